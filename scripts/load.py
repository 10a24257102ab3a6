"""A bounded load run on loopback: the docker-compose steps without Docker, then 1 and 2 workers under load.

    .venv/bin/python scripts/load.py [--seconds 20] [--clients 8] [--out evals/results/load.json]   (make load)

Starts a throwaway PostgreSQL cluster (initdb in a temp dir; Debian's postgresql package) and `chroma run`, then
runs what docker-compose.yml runs: `coach migrate && coach ingest` (vectors to the Chroma server), and
`coach serve` once per worker. Clients send a fixed mix (search, chat, a role-play turn) round-robin over the
workers, as a load balancer would, for at most --seconds and --max-requests. Prints requests/s, latency
percentiles, errors and each worker's memory (RSS) before and after, as JSON.
"""

from __future__ import annotations

import argparse
import glob
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ["How do I handle a price objection?", "客户嫌贵怎么办？", "The customer wants to think about it.",
             "怎么确认谁是决策人？", "How do I follow up after a demo?", "客户投诉交货晚了怎么处理？"]


def free_port() -> int:
    """Return a loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_postgres(root: Path) -> tuple[str, list[str]]:
    """initdb + pg_ctl start on a free loopback port; return the URL and the stop command."""
    found = shutil.which("pg_ctl") or max(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), default=None)
    if not found:
        sys.exit("PostgreSQL is not installed: apt-get install postgresql")
    bin_dir = Path(found).parent
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres")
    port, data = free_port(), root / "pg"
    run = lambda *a: subprocess.run([*as_user, *a], check=True, capture_output=True, timeout=120)  # noqa: E731
    run(str(bin_dir / "initdb"), "-D", str(data), "-U", "coach", "--auth=trust", "-E", "UTF8", "--locale=C")
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "pg.log"), "-w", "-o",
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200", "start")
    return f"postgresql://coach@127.0.0.1:{port}/postgres", [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data),
                                                            "-m", "fast", "stop"]


def wait_http(url: str, timeout_s: float = 300) -> None:
    """Wait until GET url answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer 200 within {timeout_s} s")


def rss_mb(pid: int) -> float:
    """Return a process's resident memory in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def run_load(urls: list[str], clients: int, seconds: float, max_requests: int) -> dict[str, Any]:
    """Send the mix from `clients` threads, round-robin over the workers; return the measurements."""
    sessions = [httpx.post(f"{urls[i % len(urls)]}/v1/roleplay/sessions", json={"scenario": "price-objection",
                                                                                 "lang": "en"}, timeout=60)
                .json()["session_id"] for i in range(clients)]
    counter, lock = itertools.count(), threading.Lock()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.monotonic() + seconds

    def client(c: int) -> None:
        with httpx.Client(timeout=60) as http:
            while time.monotonic() < deadline:
                n = next(counter)
                if n >= max_requests:
                    return
                url, q = urls[n % len(urls)], QUESTIONS[n % len(QUESTIONS)]
                kind = n % 4
                started = time.perf_counter()
                try:
                    if kind in (0, 1):
                        r = http.post(f"{url}/v1/search", json={"query": q, "k": 5})
                    elif kind == 2:
                        r = http.post(f"{url}/v1/chat", json={"message": q, "conversation_id": f"conv_load_{c}"})
                    else:
                        r = http.post(f"{url}/v1/roleplay/sessions/{sessions[c]}/turns",
                                      json={"message": f"I hear you. What matters most to you here? ({n})"})
                    ok = r.status_code == 200 or (kind == 3 and r.status_code == 409)
                    key = None if ok else str(r.status_code)
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                with lock:
                    latencies.append(time.perf_counter() - started)
                    if key:
                        errors[key] = errors.get(key, 0) + 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    pct = lambda p: round(1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)  # noqa: E731
    return {"requests": len(ordered), "seconds": round(elapsed, 1), "rps": round(len(ordered) / elapsed, 1),
            "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99), "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-requests", type=int, default=5000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--cache-from", type=Path, default=ROOT / "data" / "cache", help="an embedding cache")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="coach-load-"))
    work.chmod(0o711)  # PostgreSQL runs as its own user and must reach its folder
    (work / "pgroot").mkdir()
    pg_url, pg_stop = start_postgres(work / "pgroot")
    chroma_port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    result: dict[str, Any] = {"machine": f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start",
                              "runs": {}}
    try:
        procs.append(subprocess.Popen([str(Path(sys.executable).parent / "chroma"), "run", "--path",
                                       str(work / "chroma"), "--host", "127.0.0.1", "--port", str(chroma_port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        wait_http(f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
        env.update({"COACH_DATA_DIR": str(work / "data"), "COACH_DATABASE_URL": pg_url, "COACH_URL": "",
                    "COACH_CHROMA_URL": f"http://127.0.0.1:{chroma_port}", "COACH_LLM": "none"})
        if args.cache_from.is_dir():  # embeddings already computed: the ingest only copies them
            shutil.copytree(args.cache_from, work / "data" / "cache")
        # The compose `ingest` service, then one `coach serve` per worker.
        subprocess.run(["sh", "-c", f"{sys.executable} -m app.cli migrate && {sys.executable} -m app.cli ingest"],
                       env=env, cwd=ROOT, check=True)
        for workers in args.workers:
            ports = [free_port() for _ in range(workers)]
            servers = [subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env=env,
                                        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True) for port in ports]
            procs.extend(servers)
            urls = [f"http://127.0.0.1:{port}" for port in ports]
            for url in urls:
                wait_http(f"{url}/readyz")
            before = [rss_mb(p.pid) for p in servers]
            run = run_load(urls, args.clients, args.seconds, args.max_requests)
            run["rss_mb_before"], run["rss_mb_after"] = before, [rss_mb(p.pid) for p in servers]
            run["load_average_after"] = round(os.getloadavg()[0], 1)
            result["runs"][f"{workers} worker(s)"] = run
            print(json.dumps({f"{workers} worker(s)": run}), flush=True)
            for p in servers:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(60)
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(30)
        subprocess.run(pg_stop, capture_output=True, timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(result, indent=1, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

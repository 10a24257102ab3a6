"""The raw-text knowledge base: stripping enrichment for the eval, and retrieval that adapts to it."""

from __future__ import annotations

from pathlib import Path

from app.coaching.understanding import MODELS
from app.config import ROOT
from app.evaluation.raw import strip_enrichment
from app.knowledge.documents import load_knowledge
from app.knowledge.index import KnowledgeIndex, ingest
from app.knowledge.retriever import SITUATION_WEIGHT, Retriever, enriched_share
from app.learn.linear import load_for


def test_strip_enrichment_removes_every_quoted_line_and_keeps_the_source_text(tmp_path: Path) -> None:
    removed = strip_enrichment(ROOT / "knowledge", tmp_path)

    assert set(removed) == {"standards.en.md", "standards.zh.md"}
    assert all(n > 100 for n in removed.values())
    raw = load_knowledge(tmp_path)
    full = {i.chunk_id: i for i in load_knowledge(ROOT / "knowledge")}
    assert len(raw) == len(full)
    for item in raw:
        assert (item.hints, item.do, item.avoid, item.say) == ("", "", "", "")
        assert item.text == full[item.chunk_id].text and item.title == full[item.chunk_id].title
    # Phrases trainers linked are enrichment too: the copy never has them.
    assert not (tmp_path / "learned-phrases.jsonl").exists()


def test_retriever_leans_on_the_learned_situations_when_the_text_is_raw(tmp_path: Path, fast_embedder) -> None:
    strip_enrichment(ROOT / "knowledge", tmp_path / "raw")
    ingest(load_knowledge(tmp_path / "raw"), tmp_path / "raw-index", fast_embedder)
    ingest(load_knowledge(ROOT / "knowledge"), tmp_path / "index", fast_embedder)
    raw, enriched = KnowledgeIndex(tmp_path / "raw-index", fast_embedder), KnowledgeIndex(tmp_path / "index",
                                                                                          fast_embedder)
    try:
        assert enriched_share(raw.chunks) == 0.0 and enriched_share(enriched.chunks) == 1.0
        assert Retriever(raw).situation_weight == SITUATION_WEIGHT["raw"] > SITUATION_WEIGHT["enriched"]
        assert Retriever(enriched).situation_weight == SITUATION_WEIGHT["enriched"]
        situation = load_for(MODELS, "situation", fast_embedder)
        question = "The customer says we are 20% more expensive than X. What do I do?"
        hits = Retriever(raw, situation).search(question, k=3)
        assert "s4.caution.1" in [h.id for h in hits]
    finally:
        raw.close()
        enriched.close()

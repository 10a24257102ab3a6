"""What a rep's chat message is: its scope (sales coaching, not about selling, not covered, refused) and its
question type (how to, what to say, is it OK, what next), from models trained on labelled rep messages.

Trained by `coach train` on app/coaching/data (provenance in its README); the blind test set is
evals/chat-blind.jsonl, which never enters training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.knowledge.embedder import Embedder, parts_of
from app.learn.linear import LinearModel, features, load_for

MODELS = Path(__file__).with_name("models")
SCOPES = ("sales", "not_sales", "not_covered", "refused")
QTYPES = ("how_to", "what_to_say", "is_it_ok", "what_next")
# How sure the model must be before it refuses (the injection and ethics rules refuse first) or says the standards
# do not cover a question; less sure, the next reading stands. Not covered at 0.7: precision 0.87 on held-out folds
# of the training questions, and 1.8% of sales questions turned away instead of 4.4% at the plain argmax.
MIN_CONFIDENCE = {"refused": 0.8, "not_covered": 0.7}


@dataclass(frozen=True)
class Reading:
    """How the coach reads one message."""

    scope: str
    confidence: float
    qtype: str


class Understanding:
    """Scope and question-type models for the configured embedder (None when not trained for it)."""

    def __init__(self, embedder: Embedder, folder: Path = MODELS) -> None:
        self.scope: LinearModel | None = load_for(folder, "scope", embedder)
        self.qtype: LinearModel | None = load_for(folder, "qtype", embedder)
        self.situation: LinearModel | None = load_for(folder, "situation", embedder)
        # The retrieval cascade may embed a query with the first model only: read it with that model's own models.
        parts = parts_of(embedder)
        self.models = len(parts)
        self.cheap = Understanding(parts[0], folder) if len(parts) > 1 else None

    @property
    def cheap_situation(self) -> LinearModel | None:
        """Return the situation model over the first model's features alone (None for a single model)."""
        return self.cheap.situation if self.cheap is not None else None

    @property
    def trained(self) -> bool:
        """Return whether the scope model exists for this embedder."""
        return self.scope is not None

    def read(self, vectors: list[np.ndarray]) -> Reading:
        """Read a message from its per-model query vectors (the first model's only, when the cascade skipped e5)."""
        if self.cheap is not None and len(vectors) < self.models:
            return self.cheap.read(vectors)
        x = features(vectors)
        scope, confidence = "sales", 0.0
        if self.scope is not None:
            probs = self.scope.scores(x)[0]
            # The surest reading that clears its own floor: a not-covered reading short of its floor does not hand the
            # question to an even less sure refusal ("对方咬死要降15%，我们最多能让8%，咋办": not covered 0.68,
            # refused 0.17, sales 0.15). On writer-held-out folds refused precision rose from 0.84 to 0.91.
            best = next((int(j) for j in np.argsort(-probs)
                         if probs[j] >= MIN_CONFIDENCE.get(self.scope.labels[j], 0.0)),
                        self.scope.labels.index("sales"))
            scope, confidence = self.scope.labels[best], float(probs[best])
        qtype = self.qtype.predict(x)[0][0] if self.qtype is not None else "how_to"
        return Reading(scope, confidence, qtype)

"""Small linear models over the sentence embeddings we already compute: trained by `coach train`, shipped as .npz.

Training needs scikit-learn; using a model needs only numpy (a dot product and a sigmoid or softmax), so a
prediction costs microseconds on top of the embedding the request computes anyway.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from app.knowledge.embedder import Embedder, parts_of

Kind = Literal["multiclass", "multilabel"]


def features(vectors: list[np.ndarray]) -> np.ndarray:
    """Concatenate each model's L2-normalised vectors (one row per text) into one feature matrix."""
    rows = [np.atleast_2d(np.asarray(v, dtype=np.float32)) for v in vectors]
    return np.hstack(rows)


def embed_features(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """Embed `texts` with every model inside `embedder` and return their features."""
    return features([part.embed_documents(texts) for part in parts_of(embedder)])


def feature_name(embedder: Embedder) -> str:
    """Return the name a trained model records for the features it expects."""
    return "+".join(part.name for part in parts_of(embedder))


@dataclass
class LinearModel:
    """A softmax (multiclass) or one-vs-rest sigmoid (multilabel) linear model with per-label thresholds."""

    kind: Kind
    labels: list[str]
    coef: np.ndarray  # (labels, features)
    intercept: np.ndarray  # (labels,)
    thresholds: np.ndarray  # multilabel: a label is on at or above its threshold; multiclass: minimum top prob
    embedder: str
    meta: dict[str, object] = field(default_factory=dict)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Return probabilities, one row per input row and one column per label."""
        logits = np.atleast_2d(x) @ self.coef.T + self.intercept
        if self.kind == "multiclass":
            logits = logits - logits.max(axis=1, keepdims=True)
            exp = np.exp(logits)
            return exp / exp.sum(axis=1, keepdims=True)
        return 1.0 / (1.0 + np.exp(-logits))

    def predict_labels(self, x: np.ndarray) -> list[set[str]]:
        """Multilabel: the labels at or above their thresholds, per row."""
        probs = self.scores(x)
        return [{self.labels[j] for j in np.flatnonzero(row >= self.thresholds)} for row in probs]

    def predict(self, x: np.ndarray) -> list[tuple[str, float]]:
        """Multiclass: the most probable label and its probability, per row."""
        probs = self.scores(x)
        best = probs.argmax(axis=1)
        return [(self.labels[j], float(probs[i, j])) for i, j in enumerate(best)]

    def save(self, path: Path) -> None:
        """Write the model as a compressed .npz (no pickles)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            np.savez_compressed(
                fh, kind=np.array(self.kind), labels=np.array(self.labels), coef=self.coef.astype(np.float32),
                intercept=self.intercept.astype(np.float32), thresholds=self.thresholds.astype(np.float32),
                embedder=np.array(self.embedder), meta=np.array(json.dumps(self.meta, ensure_ascii=False)),
            )

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        """Read a model written by `save`."""
        with np.load(path, allow_pickle=False) as data:
            return cls(
                kind=str(data["kind"]),  # type: ignore[arg-type]
                labels=[str(x) for x in data["labels"]], coef=data["coef"], intercept=data["intercept"],
                thresholds=data["thresholds"], embedder=str(data["embedder"]), meta=json.loads(str(data["meta"])),
            )


def model_path(folder: Path, name: str, embedder: str) -> Path:
    """Return where the model `name` trained on `embedder` features lives."""
    slug = embedder.replace("+", "_").replace(":", "-").replace("/", "-")
    return folder / f"{name}.{slug}.npz"


def load_for(folder: Path, name: str, embedder: Embedder) -> LinearModel | None:
    """Return the shipped model for this embedder, or None when `coach train` has not been run for it."""
    path = model_path(folder, name, feature_name(embedder))
    return LinearModel.load(path) if path.exists() else None


def text_hash(text: str) -> str:
    """Return a short stable hash of a text (the key of the training embedding cache)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]

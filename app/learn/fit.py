"""Fit and calibrate the linear models (scikit-learn, at `coach train` time only), with cross-validated reports."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.knowledge.embedder import Embedder, parts_of
from app.learn.linear import LinearModel, features, text_hash

FOLDS = 5
SEED = 7


class EmbeddingCache:
    """Vectors of training texts per model, keyed by text hash, so re-training embeds only new text."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def embed(self, embedder: Embedder, texts: Sequence[str], progress: bool = False,
              query: bool = False) -> np.ndarray:
        """Return features for `texts`, embedding only those not cached yet.

        With `query`, texts are embedded as search queries (e5 prefixes queries and passages differently), the
        way the chat service embeds a rep's message before its models read it.
        """
        blocks = []
        for part in parts_of(embedder):
            mode = "query-" if query else ""
            path = self.folder / f"train-{mode}{part.name.replace(':', '-').replace('/', '-')}.npz"
            cached: dict[str, np.ndarray] = {}
            if path.exists():
                with np.load(path, allow_pickle=False) as data:
                    cached = dict(zip([str(k) for k in data["keys"]], data["vectors"], strict=True))
            keys = [text_hash(t) for t in texts]
            missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in cached}.items())
            if missing:
                batch = 64
                for start in range(0, len(missing), batch):
                    chunk = missing[start:start + batch]
                    batch_texts = [t for _, t in chunk]
                    vectors = (np.vstack([part.embed_query(t) for t in batch_texts]) if query
                               else part.embed_documents(batch_texts))
                    cached.update(zip([k for k, _ in chunk], vectors, strict=True))
                    if progress:
                        print(f"  embedding with {part.name}: {min(start + batch, len(missing))}/{len(missing)}",
                              flush=True)
                self.folder.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp.npz")
                with tmp.open("wb") as fh:
                    np.savez(fh, keys=np.array(list(cached)), vectors=np.vstack(list(cached.values())))
                tmp.replace(path)
            blocks.append(np.vstack([cached[k] for k in keys]) if keys else np.zeros((0, part.dim), np.float32))
        return features(blocks)


def grouped_folds(n: int, groups: np.ndarray | None = None) -> list[np.ndarray]:
    """Return FOLDS arrays of held-out indices; rows sharing a group stay in one fold."""
    rng = np.random.default_rng(SEED)
    if groups is None:
        order = rng.permutation(n)
        return [order[i::FOLDS] for i in range(FOLDS)]
    unique = rng.permutation(np.unique(groups))
    fold_of = {g: i % FOLDS for i, g in enumerate(unique)}
    assignment = np.array([fold_of[g] for g in groups])
    return [np.flatnonzero(assignment == i) for i in range(FOLDS)]


def fit_multiclass(
    x: np.ndarray, y: Sequence[str], embedder: str, c: float = 4.0, groups: np.ndarray | None = None,
    meta: dict[str, object] | None = None,
) -> tuple[LinearModel, np.ndarray]:
    """Fit a softmax model; return it and the cross-validated probabilities (rows in input order)."""
    from sklearn.linear_model import LogisticRegression

    labels = sorted(set(y))
    if len(labels) < 2:
        raise ValueError(f"need at least two classes to train, got {labels}")
    target = np.array([labels.index(v) for v in y])
    oof = np.zeros((len(target), len(labels)))
    for held in grouped_folds(len(target), groups):
        train = np.setdiff1d(np.arange(len(target)), held)
        if len(set(target[train])) < 2:
            continue
        clf = LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(x[train], target[train])
        oof[np.ix_(held, clf.classes_)] = clf.predict_proba(x[held])
    clf = LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(x, target)
    coef, intercept = clf.coef_, clf.intercept_
    if len(labels) == 2:  # one logit for the second class: a softmax over (0, logit) gives the same probabilities
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    model = LinearModel("multiclass", labels, coef.astype(np.float32), intercept.astype(np.float32),
                        np.zeros(len(labels), np.float32), embedder, dict(meta or {}))
    return model, oof


def fit_multilabel(
    x: np.ndarray, y: Sequence[set[str]], labels: list[str], embedder: str, c: float = 4.0,
    strict: frozenset[str] = frozenset(), strict_precision: float = 0.9, groups: np.ndarray | None = None,
    meta: dict[str, object] | None = None,
) -> tuple[LinearModel, np.ndarray]:
    """Fit one sigmoid per label; thresholds come from cross-validated probabilities.

    A label in `strict` (a violation, which costs the rep points) gets, among the thresholds whose
    cross-validated precision reaches `strict_precision`, the one with the best F1; the others get the threshold
    with the best F1 whatever its precision.
    """
    from sklearn.linear_model import LogisticRegression

    target = np.array([[label in row for label in labels] for row in y], dtype=bool)
    oof = np.zeros(target.shape)
    coef = np.zeros((len(labels), x.shape[1]), np.float32)
    intercept = np.zeros(len(labels), np.float32)
    folds = grouped_folds(len(target), groups)
    for j in range(len(labels)):
        column = target[:, j]
        if column.sum() < 3:
            intercept[j] = -20.0  # too few examples to learn from: never fires
            continue
        for held in folds:
            train = np.setdiff1d(np.arange(len(column)), held)
            if column[train].all() or not column[train].any():
                continue  # every example of the label sits in this fold: nothing to learn from
            clf = LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(x[train], column[train])
            oof[held, j] = clf.predict_proba(x[held])[:, 1]
        clf = LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(x, column)
        coef[j], intercept[j] = clf.coef_[0], clf.intercept_[0]
    thresholds = label_thresholds(oof, target, labels, strict, strict_precision)
    model = LinearModel("multilabel", labels, coef, intercept, thresholds, embedder, dict(meta or {}))
    return model, oof


def label_thresholds(probs: np.ndarray, target: np.ndarray, labels: list[str], strict: frozenset[str],
                     strict_precision: float) -> np.ndarray:
    """Return each label's threshold over held-out probabilities (see fit_multilabel)."""
    return np.array([_threshold(probs[:, j], target[:, j], labels[j] in strict, strict_precision)
                     for j in range(len(labels))], dtype=np.float32)


def _threshold(probs: np.ndarray, truth: np.ndarray, strict: bool, precision_goal: float) -> float:
    if truth.sum() == 0:
        return 1.01
    best_t, best_f = 0.5, -1.0
    most_precise_t, most_precise = 0.95, -1.0
    for t in np.arange(0.2, 0.96, 0.025):
        on = probs >= t
        tp = float((on & truth).sum())
        precision = tp / on.sum() if on.sum() else 0.0
        recall = tp / truth.sum()
        if precision > most_precise:
            most_precise_t, most_precise = float(t), precision
        if strict and precision < precision_goal:
            continue
        f = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if f > best_f:
            best_t, best_f = float(t), f
    # A violation that never reaches the precision asked for gets the most precise threshold there is.
    return most_precise_t if strict and best_f < 0 else best_t


def multilabel_report(oof: np.ndarray, y: Sequence[set[str]], model: LinearModel) -> dict[str, dict[str, float]]:
    """Cross-validated precision/recall/F1 per label at the chosen thresholds."""
    report = {}
    for j, label in enumerate(model.labels):
        truth = np.array([label in row for row in y])
        on = oof[:, j] >= model.thresholds[j]
        tp = float((on & truth).sum())
        p = tp / on.sum() if on.sum() else 1.0
        r = tp / truth.sum() if truth.sum() else 1.0
        report[label] = {"precision": round(p, 3), "recall": round(r, 3), "support": int(truth.sum()),
                         "threshold": round(float(model.thresholds[j]), 3)}
    return report


def multiclass_report(oof: np.ndarray, y: Sequence[str], labels: list[str]) -> dict[str, dict[str, float]]:
    """Cross-validated precision/recall per class (argmax)."""
    pred = [labels[j] for j in oof.argmax(axis=1)]
    report = {}
    for label in labels:
        tp = sum(p == label and t == label for p, t in zip(pred, y, strict=True))
        fp = sum(p == label and t != label for p, t in zip(pred, y, strict=True))
        fn = sum(p != label and t == label for p, t in zip(pred, y, strict=True))
        report[label] = {"precision": round(tp / (tp + fp), 3) if tp + fp else 1.0,
                         "recall": round(tp / (tp + fn), 3) if tp + fn else 1.0, "support": tp + fn}
    report["accuracy"] = {"value": round(sum(p == t for p, t in zip(pred, y, strict=True)) / max(len(y), 1), 3)}
    return report

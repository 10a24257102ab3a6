"""How a message's scope is read from the scope model's probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from app.coaching.understanding import Understanding
from app.learn.linear import LinearModel, features

LABELS = ["not_covered", "not_sales", "refused", "sales"]


def _reading(probs: list[float]) -> str:
    vectors = [np.ones(4, dtype=np.float32)]
    width = features(vectors).shape[-1]
    model = LinearModel("multiclass", LABELS, np.zeros((4, width)), np.log(np.array(probs)), np.zeros(4), "test")
    understanding = Understanding.__new__(Understanding)
    understanding.scope, understanding.qtype, understanding.cheap, understanding.models = model, None, None, 1
    return understanding.read(vectors).scope


@pytest.mark.parametrize(("probs", "scope"), [
    # Not covered short of its floor does not hand the question to a still less sure refusal.
    ([0.675, 0.003, 0.174, 0.148], "sales"),
    ([0.75, 0.05, 0.1, 0.1], "not_covered"),
    ([0.05, 0.05, 0.85, 0.05], "refused"),
    ([0.05, 0.3, 0.6, 0.05], "not_sales"),
])
def test_the_surest_reading_that_clears_its_floor_stands(probs, scope):
    assert _reading(probs) == scope

"""Which way a customer line leans, so a model's line can be held to the stance the engine decided.

A softmax model over sentence embeddings, trained by `coach train --only stance` on the scenarios' own scripted
lines (each line's situation gives its stance), reads every sentence of a line as one of STANCES. The voice judge
(app/roleplay/voice.py) compares those readings with the situations the engine decided this turn: a customer who
is to push back must not agree to sign, one whose concern is settled must not say "it's too early", one who walks
away must leave, one who is to open up must not just repeat the objection. Thresholds were calibrated on labelled
(situation, line) pairs written apart from the code: evals/stance-calibration.jsonl.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.knowledge.embedder import Embedder, parts_of
from app.learn.linear import embed_features, load_for

log = logging.getLogger(__name__)
MODELS = Path(__file__).with_name("models")

# The stance of each situation's scripted lines.
STANCE_OF = {
    "resolved": "forward", "progressed": "forward", "buying_signal": "forward", "meeting": "forward",
    "settled": "forward",
    "reveal": "open", "softened": "open", "ack": "open",
    "pushback": "object", "neutral": "object", "deflect": "object", "overpromise": "object", "discount": "object",
    "fact_guarded": "object",
    "premature_close": "not_yet", "pressure": "not_yet",
    "argue": "upset", "blame_customer": "upset", "disparage": "upset",
    "walked_away": "leave", "time_up": "leave",
    "greeting": "neutral", "filler": "neutral", "repeat": "neutral", "meta": "neutral", "fact_unknown": "neutral",
    "already_said": "neutral", "fact": "neutral",
}
STANCES = ("forward", "open", "object", "not_yet", "upset", "leave", "neutral")
RESISTING_STANCES = frozenset({"object", "not_yet", "upset"})

# A sentence is read as a stance when the model gives it at least this probability (calibrated; see module doc).
SURE = 0.6


@dataclass(frozen=True)
class Reading:
    """One sentence of a line and its most likely stance."""

    sentence: str
    stance: str
    p: float


class StanceReader:
    """Read the stance of each sentence of a customer line (None when no model is trained for the embedder), and
    judge whether a model's line keeps the stance of the engine's scripted line."""

    def __init__(self, embedder: Embedder, folder: Path = MODELS) -> None:
        self.embedder = embedder
        self.model = load_for(folder, "stance", embedder)
        self.pairs = load_for(folder, "stance-pairs", embedder) if self.model is not None else None
        if self.model is None:
            log.warning("no trained stance model for embedder %s: run `coach train --only stance`", embedder.name)

    def judge(self, reply: str, scripted: str, situations: list[str]) -> str | None:
        """Return why `reply` does not keep the stance of `scripted` (the engine's line for `situations`), or None.

        The sentence rules of `contradiction` catch the plain cases (refusing to commit once the concern is settled,
        leaving when the engine did not end the conversation); the pair model, trained on labelled good and
        contradicting lines, judges the rest.
        """
        if self.model is None:
            return None
        ruled = contradiction(self.read(reply), situations)
        if ruled or self.pairs is None or not scripted:
            return ruled
        x = pair_features(self, [reply], [scripted], [False])  # the rules saw no contradiction
        p = float(self.pairs.scores(x)[0, self.pairs.labels.index("contradicts")])
        return "the line does not take the stance of the scripted one" if p >= float(
            self.pairs.meta["reject_at"]) else None  # type: ignore[arg-type]

    def read(self, line: str) -> list[Reading]:
        """Return each sentence's stance and probability."""
        from app.roleplay.techniques import sentences

        parts = [p for p in sentences(line) if p.strip()] or [line]
        if self.model is None:
            return []
        probs = self.model.scores(embed_features(self.embedder, parts))
        best = probs.argmax(axis=1)
        return [Reading(part, self.model.labels[int(j)], float(probs[i, j])) for i, (part, j) in
                enumerate(zip(parts, best, strict=True))]


def decided(situations: list[str]) -> set[str]:
    """Return the stances the engine decided this turn (the situation keys may carry an objection prefix)."""
    return {STANCE_OF[k] for k in (s.rsplit(":", 1)[-1] for s in situations) if k in STANCE_OF}


def contradiction(readings: list[Reading], situations: list[str], sure: float = SURE) -> str | None:
    """Return why a line's stance contradicts the engine's decision, or None when it does not."""
    wanted = decided(situations)
    if not readings or not wanted or wanted <= {"neutral"}:
        return None
    said = {r.stance for r in readings if r.p >= sure}
    leaning = [r.stance for r in readings]
    if "leave" in wanted:
        return None if "leave" in leaning else "the engine decided the customer ends the conversation"
    if "leave" in said:
        return "the customer walks away, which the engine did not decide"
    if "forward" in wanted and "not_yet" not in wanted and "not_yet" in said:
        return "the customer refuses to commit although the engine decided the concern is settled"
    if wanted <= {"forward", "neutral"} and said & RESISTING_STANCES:
        return "the customer pushes back although the engine decided the concern is settled"
    if "forward" not in wanted and "forward" in said:
        return ("the customer agrees although the engine decided the customer pushes back" if wanted & RESISTING_STANCES
                else "the customer agrees although the engine did not decide the concern is settled")
    if wanted & {"open", "forward"} and not wanted & RESISTING_STANCES and all(s in RESISTING_STANCES for s in leaning):
        return "the customer only repeats the objection although the engine decided the customer moves on"
    return None


def stance_training_lines(scenarios: list[object]) -> list[tuple[str, str]]:
    """Return (sentence, stance) pairs from the scenarios' scripted lines, acknowledgements and facts."""
    from app.roleplay.scenarios import Fact, Lines, Scenario
    from app.roleplay.techniques import sentences

    out: list[tuple[str, str]] = []

    def add(text: str, stance: str) -> None:
        for part in sentences(text.replace("{last}", "").replace("{fact}", "")):
            if part.strip():
                out.append((part.strip(), stance))

    for sc in scenarios:
        assert isinstance(sc, Scenario)
        pools: list[tuple[str, Lines | Fact]] = [(key, lines) for key, lines in sc.lines.items()]
        pools += [(key, lines) for o in sc.objections for key, lines in o.lines.items()]
        pools += [("ack", lines) for lines in sc.acks.values()]
        pools += [("fact", fact) for fact in sc.facts.values()]
        for key, lines in pools:
            if key in STANCE_OF:
                for lang in ("zh", "en"):
                    for text in lines.get(lang):
                        add(text, STANCE_OF[key])
    return sorted(set(out))



def pair_features(reader: StanceReader, replies: list[str], scripted: list[str], ruled: list[bool]) -> np.ndarray:
    """Features of (model line, scripted line) pairs: how close their meaning is per embedding model, their stance
    distributions and how those agree, and whether the sentence rules saw a contradiction (`ruled`)."""
    assert reader.model is not None
    xr, xs = embed_features(reader.embedder, replies), embed_features(reader.embedder, scripted)
    columns, start = [], 0
    for part in parts_of(reader.embedder):
        end = start + part.dim
        columns.append(_cosine(xr[:, start:end], xs[:, start:end]))
        start = end
    dr, ds = reader.model.scores(xr), reader.model.scores(xs)
    return np.hstack([*columns, dr, ds, dr * ds, _cosine(dr, ds), np.array(ruled, dtype=np.float32)[:, None]])


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norms = np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return ((a * b).sum(axis=1) / norms)[:, None]

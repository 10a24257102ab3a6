"""The dialogue state machine: each rep message moves trust, patience and the objections; the reply follows.

The engine is deterministic (no randomness, no LLM): the same messages give the same state, lines and
scores, which is what lets scripted transcripts in evals/ check the scoring.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from app.roleplay.scenarios import Effect, Scenario, Text

# What a rep types to end a practice session, in the terminal and in Slack.
END_WORDS = frozenset({"end", "stop", "quit", "结束", "结束。", "停止"})


@dataclass(frozen=True)
class Level:
    """How hard the customer is to move at one difficulty."""

    trust: int  # starting trust (0-100)
    patience: int  # starting patience (0-100)
    need: int  # resolving points an objection needs
    gain: float  # multiplier on positive effects
    loss: float  # multiplier on negative effects
    drain: int  # patience lost every turn
    signal_trust: int  # trust needed before a buying signal
    walk_trust: int  # the customer walks away at or below this trust


LEVELS: dict[str, Level] = {
    "easy": Level(trust=50, patience=100, need=1, gain=1.3, loss=0.7, drain=4, signal_trust=45, walk_trust=10),
    "normal": Level(trust=40, patience=80, need=2, gain=1.0, loss=1.0, drain=5, signal_trust=50, walk_trust=15),
    "hard": Level(trust=30, patience=70, need=3, gain=0.8, loss=1.3, drain=6, signal_trust=55, walk_trust=20),
}

# What a technique does when the scenario does not say otherwise.
DEFAULT_EFFECTS: dict[str, Effect] = {
    name: Effect(trust=trust, patience=patience, why=Text(zh=zh, en=en))
    for name, trust, patience, zh, en in (
        ("discount", -10, -5, "无条件降价让客户觉得价格有水分",
         "An unconditional discount suggests the price was padded"),
        ("concession", 3, 0, "有条件的让步显得价格实在", "A traded concession shows the price is real"),
        ("acknowledge", 5, 0, "被认同的客户更愿意说实话", "A customer who feels heard says more"),
        ("probe", 6, 0, "追问让客户说出真实顾虑", "Probing brings the real concern out"),
        ("argue", -15, -15, "争辩让客户失去耐心", "Arguing costs trust and patience"),
        ("pressure", -10, -15, "施压让客户反感", "Pressure puts the customer off"),
        ("overpromise", -10, 0, "过度承诺让客户不再相信", "Over-promising makes the customer doubt everything"),
        ("value", 5, 0, "量化价值让客户看到回报", "Quantified value shows the return"),
        ("differentiate", 4, 0, "差异化给客户选择的理由", "Differentiation gives a reason to choose"),
        ("story", 4, 0, "案例让价值变得可信", "A story makes the value believable"),
        ("close", 0, 0, "在成交信号出现时提出成交", "Asking for the order at a buying signal"),
        ("open_question", 4, 0, "开放式提问让客户多说", "Open questions get the customer talking"),
    )
}
HURTS = ("argue", "pressure", "discount", "overpromise")  # most damaging first: the customer reacts to that one
PREMATURE_CLOSE_PATIENCE = 10


@dataclass
class StepResult:
    """What one rep message did: the situations the customer reacts to, and notable events."""

    situations: list[str] = field(default_factory=list)  # pool keys, e.g. "obj:price:reveal", "discount"
    events: list[str] = field(default_factory=list)  # e.g. "revealed:price", "premature_close", "missed_signal"
    signal_before: bool = False


def initial_state(scenario: Scenario, difficulty: str) -> dict[str, Any]:
    """Return the state at the opening line."""
    level = LEVELS[difficulty]
    objections = [{"id": o.id, "status": "pending", "points": 0} for o in scenario.objections]
    objections[0]["status"] = "raised"
    return {
        "difficulty": difficulty, "turn": 0, "max_turns": scenario.max_turns, "trust": level.trust,
        "patience": level.patience, "objections": objections, "signal": False, "outcome": None,
        "discounts": 0, "missed_signals": 0, "used": {}, "last_line": "",
    }


def _current(state: dict[str, Any]) -> dict[str, Any] | None:
    return next((o for o in state["objections"] if o["status"] in ("raised", "revealed")), None)


def _scaled(value: int, level: Level) -> int:
    return round(value * (level.gain if value > 0 else level.loss))


def step(scenario: Scenario, state: dict[str, Any], techniques: set[str]) -> tuple[dict[str, Any], StepResult]:
    """Apply one rep message (as the set of techniques detected in it) and return the new state."""
    s = copy.deepcopy(state)
    level = LEVELS[s["difficulty"]]
    result = StepResult(signal_before=bool(s["signal"]))
    s["turn"] += 1
    hurts = [t for t in HURTS if t in techniques]

    for name in sorted(techniques):
        effect = scenario.moves.get(name) or scenario.hurts.get(name) or DEFAULT_EFFECTS[name]
        s["trust"] += _scaled(effect.trust, level)
        s["patience"] += _scaled(effect.patience, level)
    if "discount" in techniques:
        s["discounts"] += 1

    if "close" in techniques and not hurts:
        if s["signal"]:
            s["outcome"] = "progressed"
            result.events.append("closed")
        else:
            s["patience"] += _scaled(-PREMATURE_CLOSE_PATIENCE, level)
            result.events.append("premature_close")
            result.situations.append("premature_close")

    objection = _current(s)
    if objection is not None and not hurts and s["outcome"] is None:
        spec = next(o for o in scenario.objections if o.id == objection["id"])
        revealing = techniques & set(spec.revealed_by)
        resolving = techniques & set(spec.resolved_by)
        key = f"obj:{spec.id}"
        if objection["status"] == "raised":
            if revealing or (resolving and spec.kind == "genuine"):
                objection["status"] = "revealed"
                result.events.append(f"revealed:{spec.id}")
                if revealing:
                    result.situations.append(f"{key}:reveal")
            elif resolving:
                # Answering a smokescreen at face value does not reach the real concern.
                result.situations.append("deflect")
        if objection["status"] == "revealed" and resolving and f"{key}:reveal" not in result.situations:
            objection["points"] += min(2, len(resolving))
            if objection["points"] >= level.need:
                objection["status"] = "resolved"
                result.events.append(f"resolved:{spec.id}")
                result.situations.append(f"{key}:resolved")
                following = next((o for o in s["objections"] if o["status"] == "pending"), None)
                if following is not None:
                    following["status"] = "raised"
                    result.situations.append(f"obj:{following['id']}:pushback")
            else:
                result.situations.append(f"{key}:softened")

    all_resolved = all(o["status"] == "resolved" for o in s["objections"])
    if s["outcome"] is None and all_resolved and not hurts:
        if not s["signal"] and s["trust"] >= level.signal_trust:
            s["signal"] = True
            result.situations.append("buying_signal")
        elif s["signal"] and "close" not in techniques:
            s["missed_signals"] += 1
            result.events.append("missed_signal")
            result.situations.append("buying_signal")

    if hurts:
        result.situations = [hurts[0]]
    s["patience"] -= level.drain
    s["trust"] = max(0, min(100, s["trust"]))
    s["patience"] = max(0, min(100, s["patience"]))

    if s["outcome"] is None:
        if s["patience"] <= 0 or s["trust"] <= level.walk_trust:
            s["outcome"] = "walked_away"
        elif s["turn"] >= s["max_turns"]:
            s["outcome"] = "time_up"
    if s["outcome"] is not None:
        # The ending line follows any reaction to this message (e.g. an argument, then walking away).
        result.situations = [*(result.situations[:1] if hurts else []), s["outcome"]]
    elif not result.situations:
        current = _current(s)
        result.situations.append(f"obj:{current['id']}:pushback" if current else "neutral")
        if not techniques:
            result.situations.insert(0, "neutral")
    return s, result


def progress(scenario: Scenario, state: dict[str, Any]) -> int:
    """Return deal progress 0-100: objections resolved, a buying signal, an agreed next step."""
    level = LEVELS[state["difficulty"]]
    parts = [1.0 if o["status"] == "resolved" else min(o["points"] / level.need, 0.9) for o in state["objections"]]
    value = 70 * sum(parts) / len(parts) + (10 if state["signal"] else 0)
    return 100 if state["outcome"] == "progressed" else round(min(value, 90))


def public_state(scenario: Scenario, state: dict[str, Any]) -> dict[str, Any]:
    """Return the state as clients see it."""
    by_status = {status: [o["id"] for o in state["objections"] if o["status"] in statuses]
                 for status, statuses in (("raised", ("raised", "revealed", "resolved")),
                                          ("revealed", ("revealed", "resolved")), ("resolved", ("resolved",)))}
    return {
        "turn": state["turn"], "max_turns": state["max_turns"], "difficulty": state["difficulty"],
        "trust": state["trust"], "patience": state["patience"], "progress": progress(scenario, state),
        "objections": by_status, "buying_signal": state["signal"], "outcome": state["outcome"],
    }


def _pool(scenario: Scenario, key: str, lang: str) -> list[str]:
    if key.startswith("obj:"):
        _, objection_id, situation = key.split(":")
        spec = next(o for o in scenario.objections if o.id == objection_id)
        return spec.lines[situation].get(lang)  # type: ignore[index]
    return scenario.lines[key].get(lang)


def customer_line(scenario: Scenario, state: dict[str, Any], situations: list[str], lang: str) -> str:
    """Compose the customer's reply from the scenario's lines, rotating so no reply repeats the last one."""
    used: dict[str, int] = state["used"]
    parts = []
    for key in situations:
        pool = _pool(scenario, key, lang)
        n = used.get(key, 0)
        parts.append(pool[n % len(pool)])
        used[key] = n + 1
    joiner = "" if lang == "zh" else " "
    line = joiner.join(parts)
    if line == state["last_line"]:
        key = situations[-1]
        pool = _pool(scenario, key, lang)
        if len(pool) > 1:
            parts[-1] = pool[used[key] % len(pool)]
            used[key] += 1
            line = joiner.join(parts)
        else:
            # A one-line pool: say the objection again in other words rather than repeat verbatim.
            neutral = scenario.lines["neutral"].get(lang)
            line = joiner.join([neutral[used.get("neutral", 0) % len(neutral)], line])
            used["neutral"] = used.get("neutral", 0) + 1
    state["last_line"] = line
    return line


def opening_line(scenario: Scenario, state: dict[str, Any], lang: str, variant: int) -> str:
    """Return the customer's first line."""
    lines = scenario.opening.get(lang)
    line = lines[variant % len(lines)]
    state["last_line"] = line
    return line

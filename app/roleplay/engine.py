"""The dialogue state machine: each rep message moves trust, patience and the objections; the reply follows.

The engine is deterministic (no randomness, no LLM): the same messages give the same state, lines and
scores, which is what lets scripted transcripts in evals/ check the scoring.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from app.roleplay.scenarios import OBJECTION_SITUATIONS, Effect, Scenario, Text
from app.text import CJK, letters

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
        ("decision_makers", 4, 0, "弄清谁参与决策，才能找对人、讲对话", "Knowing who decides lets you address them"),
        ("remedy_plan", 8, 5, "担起责任、给出具体补救计划，客户才会冷静", "Owning it with a concrete plan calms"
                                                                        " the customer"),
        ("reassure", 6, 0, "理解并安抚签约后的顾虑，客户更有信心", "Reassurance after signing restores confidence"),
        ("next_steps", 4, 0, "清楚的后续安排让客户安心", "Clear next steps put the customer at ease"),
        ("blame_customer", -15, -10, "把问题推给客户只会激怒对方", "Blaming the customer makes them angrier"),
        ("disparage", -8, -5, "贬低竞品显得不专业", "Running the competitor down sounds unprofessional"),
    )
}
# Most damaging first: the customer reacts to that one.
HURTS = ("blame_customer", "argue", "pressure", "disparage", "discount", "overpromise")
# Moves that only ask: when the rep asked for a fact, the answer is the reply.
QUESTIONS = frozenset({"open_question", "decision_makers"})
# Reactions that only say how the customer took a message; a proposal to meet is answered in their place.
STANCE_ONLY = frozenset({"neutral", "deflect", "greeting", "filler", "meta", "settled"})
# Message kinds that are not a sales move; the customer answers them like a person, and the clock still runs.
SMALL_TALK = {"greeting": "greeting", "filler": "filler", "repeat_request": "repeat", "meta": "meta"}
# Which acknowledgement a customer leads with when the rep made several good moves: the most substantive.
ACK_ORDER = ("remedy_plan", "value", "story", "differentiate", "concession", "reassure", "next_steps", "probe",
             "decision_makers", "acknowledge", "open_question", "close")
PREMATURE_CLOSE_PATIENCE = 10


@dataclass
class StepResult:
    """What one rep message did: the situations the customer reacts to, and notable events."""

    situations: list[str] = field(default_factory=list)  # pool keys, e.g. "obj:price:reveal", "discount"
    events: list[str] = field(default_factory=list)  # e.g. "revealed:price", "premature_close", "missed_signal"
    signal_before: bool = False
    facts: list[tuple[str, str]] = field(default_factory=list)  # (slot, "answered"|"guarded"|"unknown"|"again")
    ack: str | None = None  # the good move the customer acknowledges before going on


def initial_state(scenario: Scenario, difficulty: str) -> dict[str, Any]:
    """Return the state at the opening line."""
    level = LEVELS[difficulty]
    objections = [{"id": o.id, "status": "pending", "points": 0} for o in scenario.objections]
    objections[0]["status"] = "raised"
    return {
        "difficulty": difficulty, "turn": 0, "max_turns": scenario.max_turns, "trust": level.trust,
        "patience": level.patience, "objections": objections, "signal": False, "outcome": None,
        "discounts": 0, "missed_signals": 0, "used": {}, "last_line": "", "said": [], "facts_given": [],
    }


def _current(state: dict[str, Any]) -> dict[str, Any] | None:
    return next((o for o in state["objections"] if o["status"] in ("raised", "revealed")), None)


def _scaled(value: int, level: Level) -> int:
    return round(value * (level.gain if value > 0 else level.loss))


def step(
    scenario: Scenario, state: dict[str, Any], techniques: set[str], kind: str = "normal",
    facts: list[str] | None = None, substantive: bool = False, also: list[str] | None = None,
    meeting: bool = False,
) -> tuple[dict[str, Any], StepResult]:
    """Apply one rep message (the techniques, the kind of message, the facts asked) and return the new state.

    `also` are other readings of an ambiguous question: the customer answers them too when free to, and says
    nothing of them otherwise. `meeting`: the message proposes a time to meet, which the customer answers.
    """
    s = copy.deepcopy(state)
    s.setdefault("said", [])
    s.setdefault("facts_given", [])
    level = LEVELS[s["difficulty"]]
    result = StepResult(signal_before=bool(s["signal"]))
    trust_before = s["trust"]
    s["turn"] += 1
    hurts = [t for t in HURTS if t in techniques]

    for name in sorted(techniques):
        effect = scenario.moves.get(name) or scenario.hurts.get(name) or DEFAULT_EFFECTS[name]
        s["trust"] += _scaled(effect.trust, level)
        s["patience"] += _scaled(effect.patience, level)
    if "discount" in techniques:
        s["discounts"] += 1

    # After signing there is no order to ask for: agreeing the plan or the next steps is what moves things on.
    closers = {"close"} | ({"next_steps", "remedy_plan"} if scenario.stage >= 5 else set())
    signal = s["signal"]
    objection = _current(s)
    if objection is not None and not hurts and s["outcome"] is None:
        spec = next(o for o in scenario.objections if o.id == objection["id"])
        # A question for a fact gets the fact; it does not draw out the concern behind the objection.
        revealing = (techniques - (QUESTIONS if facts else set())) & set(spec.revealed_by)
        resolving = techniques & set(spec.resolved_by)
        key = f"obj:{spec.id}"
        if objection["status"] == "raised":
            if revealing or (resolving and spec.kind == "genuine"):
                objection["status"] = "revealed"
                result.events.append(f"revealed:{spec.id}")
                # The customer says the real concern out loud, so the scorecard never credits one never voiced.
                result.situations.append(f"{key}:reveal")
            elif resolving:
                # Answering a smokescreen at face value does not reach the real concern.
                result.situations.append("deflect")
        if objection["status"] == "revealed" and resolving and not revealing:
            objection["points"] += min(2, len(resolving))
            if objection["points"] >= level.need:
                objection["status"] = "resolved"
                result.events.append(f"resolved:{spec.id}")
                result.situations.append(f"{key}:resolved")
                following = next((o for o in s["objections"] if o["status"] == "pending"), None)
                if following is not None:
                    following["status"] = "raised"
                    result.situations.append(f"obj:{following['id']}:pushback")
            elif f"{key}:reveal" not in result.situations:
                # A customer who has just said what really bothers him has reacted; "that's more like it" on top
                # reads as a second reply.
                result.situations.append(f"{key}:softened")

    all_resolved = all(o["status"] == "resolved" for o in s["objections"])
    if "close" in techniques and not hurts and scenario.stage >= 5 and not signal:
        pass  # an early "shall we go ahead?" after signing is odd but not a premature close
    elif techniques & closers and not hurts and (signal or "close" in techniques):
        if signal:
            s["outcome"] = "progressed"
            result.events.append("closed")
        elif all_resolved and any(e.startswith("resolved:") for e in result.events):
            # The same message settled the last concern and asked for the order ("if the first payment moves to
            # next quarter, can we sign this week?"): a trial close on the answer, not one before it.
            result.events.append("closed_on_answer")
            if s["trust"] >= level.signal_trust:
                s["signal"] = True
                s["outcome"] = "progressed"
                result.events.append("closed")
        else:
            s["patience"] += _scaled(-PREMATURE_CLOSE_PATIENCE, level)
            result.events.append("premature_close")
            result.situations.insert(0, "premature_close")
    if s["outcome"] is None and all_resolved and not hurts:
        if not s["signal"] and s["trust"] >= level.signal_trust:
            s["signal"] = True
            result.situations.append("buying_signal")
        elif s["signal"] and not techniques & closers and scenario.stage <= 4:
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
        return s, result
    # A customer put out by a bad move still answers a plain question asked in the same breath, after reacting to
    # the move, as far as the trust they had when the message arrived allows.
    trust = trust_before if hurts else s["trust"]
    result.facts = _answer_facts(scenario, s, facts or [], trust)
    room = 2 - len(result.facts)
    if room > 0 and also:
        extra = _answer_facts(scenario, s, [a for a in also if a not in (facts or []) and a not in s["facts_given"]],
                              trust, quiet=True)
        result.facts += extra[:room]
    if not result.situations:
        current = _current(s)
        if result.facts and techniques <= QUESTIONS:
            pass  # a plain question gets its answer, not a canned objection
        elif kind in SMALL_TALK and not techniques:
            result.situations.append(SMALL_TALK[kind])
        elif not techniques:
            # A substantive message the customer cannot place is met with a shrug, not a rebuke.
            result.situations.append("deflect" if substantive else "neutral")
        elif current is not None:
            # Once the real concern is out, the customer does not go back to the surface objection.
            stance = "softened" if current["status"] == "revealed" else "pushback"
            result.situations.append(f"obj:{current['id']}:{stance}")
        else:
            # Every concern is settled and the rep made a good move: the customer agrees, not "that doesn't answer me".
            result.situations.append("settled")
    if meeting and not hurts:
        # "Does Tuesday work for a call with your CFO?" gets a yes to the diary, in place of a shrug or "what else?";
        # a concern newly told or settled, or an objection still standing, is said first.
        result.situations = [k for k in result.situations if k not in STANCE_ONLY and not k.endswith(":softened")]
        result.situations.append("meeting")
    if not hurts:
        result.ack = next((t for t in ACK_ORDER if t in techniques), None)
    return s, result


def _answer_facts(scenario: Scenario, s: dict[str, Any], asked: list[str], trust: int, quiet: bool = False
                  ) -> list[tuple[str, str]]:
    """Decide how the customer answers each fact asked (two at most): given, held back, unknown, or again.

    `quiet`: only facts the customer gives now are returned (for readings of a question the rep may not have meant).
    """
    level = LEVELS[s["difficulty"]]
    opened = any(o["status"] in ("revealed", "resolved") for o in s["objections"])
    out = []
    # Asked several things at once, the customer answers what the fact sheet holds first.
    for slot in sorted(asked, key=lambda slot: slot not in scenario.facts)[:2]:
        fact = scenario.facts.get(slot)
        # Depth 1 is shared with a rep who has not lost the customer's trust; depth 2 (the story behind the
        # real concern) only once that concern is out and trust is high.
        allowed = fact is not None and {0: True, 1: opened or trust >= level.trust,
                                        2: opened and trust >= level.signal_trust - 10}[fact.depth]
        if allowed and slot not in s["facts_given"]:
            s["facts_given"].append(slot)
            out.append((slot, "answered"))
        elif not quiet:
            out.append((slot, "unknown" if fact is None else "again" if allowed else "guarded"))
    return out


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


# A sentence inside another one already said counts as said when it has at least this many letters, or Chinese
# characters: "Okay, that's more like it." after "That's more like it.", not "Okay." after "Okay, fine."
MIN_ECHO_LETTERS, MIN_ECHO_CJK = 8, 5
# Where a customer line splits into sentences: after Chinese and English end punctuation.
SENTENCE_END = re.compile(r"(?<=[。！？!?])\s*|(?<=[.])\s+")
# Situations a customer acknowledges the rep's point before: a push-back, not an ending or a buying signal.
ACKED = {"pushback", "softened", "deflect", "neutral", "reveal", "resolved"}
# When a pool is spent, the customer says something of the same stance from a neighbouring pool.
FALLBACKS: dict[str, tuple[str, ...]] = {
    "pushback": ("softened",), "softened": ("more", "pushback"), "neutral": ("deflect", "filler"),
    "deflect": ("neutral",), "filler": ("neutral",), "settled": ("more",), "greeting": ("filler",), "meta": ("filler",),
    "fact_unknown": ("fact_guarded",), "fact_guarded": ("fact_unknown",),
}


def _pool(scenario: Scenario, key: str, lang: str) -> list[str]:
    if key.startswith("obj:"):
        _, objection_id, situation = key.split(":")
        spec = next(o for o in scenario.objections if o.id == objection_id)
        return spec.lines[situation].get(lang)  # type: ignore[index]
    return scenario.lines[key].get(lang)


def _sentences(line: str) -> list[str]:
    """Split a customer line into sentences (what "said before" is judged on)."""
    return [p.strip() for p in SENTENCE_END.split(line) if p.strip()]


def _long_enough_to_echo(words: str) -> bool:
    return len(words) >= (MIN_ECHO_CJK if CJK.search(words) else MIN_ECHO_LETTERS)


def _said_before(sentence: str, said: list[str]) -> bool:
    """Whether this session said the sentence, or one it contains or is contained in ("That's more like it." and
    "Okay, that's more like it.")."""
    if sentence in said:
        return True
    words = letters(sentence)
    return _long_enough_to_echo(words) and any(
        _long_enough_to_echo(w) and (w in words or words in w) for w in map(letters, said))


def _fresh(pool: list[str], said: list[str], start: int) -> str | None:
    """Return the first line of `pool` from `start` on none of whose sentences this session has said yet."""
    for k in range(len(pool)):
        line = pool[(start + k) % len(pool)]
        if not any(_said_before(sentence, said) for sentence in _sentences(line)):
            return line
    return None


def _pick(scenario: Scenario, state: dict[str, Any], key: str, lang: str) -> str:
    """Take the next unsaid line of a pool; when a pool is spent, fall back to a related one."""
    used: dict[str, int] = state["used"]
    scope, _, situation = key.rpartition(":") if key.startswith("obj:") else ("", "", key)
    # An objection's fallback is its own pool of that name, or a shared one ("more") when no objection has one.
    fallbacks = [f"{scope}:{f}" if scope and f in OBJECTION_SITUATIONS else f for f in FALLBACKS.get(situation, ())]
    for candidate in (key, *fallbacks):
        pool = _pool(scenario, candidate, lang)
        line = _fresh(pool, state["said"], used.get(candidate, 0))
        if line is not None:
            used[candidate] = pool.index(line) + 1
            return line
    # Every related line has been said: say the least recent one, marked as a repeat, never verbatim.
    pool = _pool(scenario, key, lang)
    n = used.get(key, 0)
    used[key] = n + 1
    prefix = "我还是那句话：" if lang == "zh" else "As I said: "
    return prefix + pool[n % len(pool)]


def _fact_line(scenario: Scenario, state: dict[str, Any], slot: str, status: str, lang: str) -> str:
    if status in ("answered", "again"):
        given = _fresh(scenario.facts[slot].get(lang), state["said"], 0)
        if given is not None:
            return given  # another wording of the same fact reads as a patient answer
        fact = _one_sentence(scenario.facts[slot].get(lang)[0], lang)
        return _pick(scenario, state, "already_said", lang).replace("{fact}", fact)
    return _pick(scenario, state, "fact_guarded" if status == "guarded" else "fact_unknown", lang)


LOWER_AFTER_SEMICOLON = {"The", "That", "This", "It", "We", "They", "Our", "There", "But", "And", "So", "Then"}


def _one_sentence(text: str, lang: str) -> str:
    """Run a fact's sentences into one ("…on the 1st; that was two weeks ago."), so saying it again under "I told
    you already:" repeats no sentence word for word."""
    parts = _sentences(text)
    if len(parts) < 2:
        return text
    inner = [p.rstrip("。！？!?.") for p in parts[:-1]]
    if lang == "zh":
        return "，".join([*inner, parts[-1]])
    last = parts[-1]
    first = last.split(" ", 1)[0]
    return "; ".join([*inner, first.lower() + last[len(first):] if first in LOWER_AFTER_SEMICOLON else last])


# A leading interjection ("Okay,", "好，") a reply part shares with the part before it: said once, not twice in a row.
LEAD_WORD = re.compile(r"^(okay|ok|right|fine|good|alright|hm+|well|sure|好吧|好|行|嗯|可以)[,，.。!！…]+\s*",
                       re.IGNORECASE)


def _without_echoed_lead(parts: list[str]) -> list[str]:
    """Drop a leading interjection that repeats the previous part's ("Okay, that's a real saving. Okay, …")."""
    out: list[str] = []
    for part in parts:
        before = LEAD_WORD.match(out[-1]) if out else None
        lead = LEAD_WORD.match(part)
        rest = part[lead.end():] if lead else ""
        if before and lead and before.group(1).lower() == lead.group(1).lower() and rest:
            part = rest[0].upper() + rest[1:]
        out.append(part)
    return out


def customer_line(scenario: Scenario, state: dict[str, Any], result: StepResult, lang: str) -> str:
    """Compose the customer's reply: acknowledge the rep's point, answer what was asked, then react.

    No line is said twice in a session: each pool is walked in order, skipping what was said.
    """
    def said(part: str) -> str:
        # Counted as said at once, so a later part of the same reply cannot echo it ("That's more like it. …
        # Okay, that's more like it.").
        state["said"].extend(_sentences(part))
        return part

    parts: list[str] = []
    reacting = [k for k in result.situations if k not in ("repeat",)]
    if result.ack and reacting and reacting[0].split(":")[-1] in ACKED and result.ack in scenario.acks:
        ack = _fresh(scenario.acks[result.ack].get(lang), state["said"], state["turn"])
        if ack is not None:
            parts.append(said(ack))
    reactions = []
    for key in result.situations:
        line = _pick(scenario, state, key, lang)
        if key == "repeat":
            line = line.replace("{last}", state.get("last_line") or "")
        reactions.append(said(line))
    answers = [said(_fact_line(scenario, state, slot, status, lang)) for slot, status in result.facts]
    # The reaction to a bad move comes first ("You're blaming us? ... Finance signs off."); otherwise the answer.
    hurt = bool(result.situations) and result.situations[0] in HURTS
    parts.extend([*reactions, *answers] if hurt else [*answers, *reactions])
    if not parts:
        parts.append(said(_pick(scenario, state, "neutral", lang)))
    joiner = "" if lang == "zh" else " "
    line = joiner.join(_without_echoed_lead(parts))
    if "repeat" not in result.situations:
        state["last_line"] = line
    return line


def opening_line(scenario: Scenario, state: dict[str, Any], lang: str, variant: int) -> str:
    """Return the customer's first line."""
    lines = scenario.opening.get(lang)
    line = lines[variant % len(lines)]
    state["last_line"] = line
    state.setdefault("said", []).extend(_sentences(line))
    return line

"""Per-turn feedback and the end-of-session scorecard, every point tied to the rep's words and a standard id."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from app.errors import CoachError
from app.roleplay.scenarios import Scenario
from app.roleplay.techniques import TECHNIQUES, Detection

log = logging.getLogger(__name__)

# Used when neither the index nor the standards files can be read (e.g. unit tests without knowledge/).
FALLBACK_TITLES: dict[str, dict[str, str]] = {
    "s2.standard.1": {"zh": "提问技巧专业化", "en": "Professional questioning technique"},
    "s3.standard.2": {"zh": "价值导向清晰", "en": "Lead with value"},
    "s3.caution.1": {"zh": "避免过度承诺", "en": "Avoid overpromising"},
    "s3.caution.2": {"zh": "可视化与故事化", "en": "Visualise and tell stories"},
    "s3.caution.3": {"zh": "突出差异化优势", "en": "Highlight what sets you apart"},
    "s4.standard.2": {"zh": "异议处理积极高效", "en": "Handle objections constructively"},
    "s4.standard.3": {"zh": "沟通氛围建设性", "en": "Keep the tone constructive"},
    "s4.caution.1": {"zh": "不轻易降价", "en": "Don't cut the price easily"},
    "s4.caution.2": {"zh": "区分真实异议与虚假异议", "en": "Tell real from false objections"},
    "s4.caution.3": {"zh": "避免与客户争辩", "en": "Don't argue with the customer"},
    "s4.caution.4": {"zh": "把握成交信号，适时逼单", "en": "Spot buying signals and close"},
    "s2.caution.3": {"zh": "识别决策链", "en": "Identify the decision-making unit"},
    "s5.caution.3": {"zh": "关注客户情绪变化", "en": "Ease post-purchase anxiety"},
    "s5.standard.3": {"zh": "感谢与预期管理", "en": "Thank and set expectations"},
    "s6.standard.4": {"zh": "问题响应与解决迅速", "en": "Fast problem response and resolution"},
    "s6.caution.2": {"zh": "将投诉视为改进机会", "en": "Treat complaints as chances to improve"},
}

# One actionable sentence per technique and verdict; {ref} becomes "s4.caution.1 Don't cut the price easily".
NOTES: dict[tuple[str, str], dict[str, str]] = {
    ("discount", "violated"): {
        "zh": "你无条件地让了价：先用增加价值回应价格压力，必须让步时要换取承诺（如签更长合同或提前付款）（{ref}）。",
        "en": "You cut the price and got nothing back: answer price pressure with value first, and if you must "
              "concede, trade it for a commitment such as a longer term or faster signature ({ref}).",
    },
    ("concession", "followed"): {
        "zh": "让步换来了对方的承诺，价格依然可信；下次先讲价值，再把让步作为最后的交换筹码（{ref}）。",
        "en": "You traded the concession for a commitment, so your price stays credible; keep leading with value "
              "and hold concessions back as your last bargaining chip ({ref}).",
    },
    ("acknowledge", "followed"): {
        "zh": "你先认同了客户的感受，接下来马上确认异议背后的真实原因，再有针对性地回应（{ref}）。",
        "en": "You acknowledged the concern first; now confirm the real reason behind it before you answer "
              "({ref}).",
    },
    ("probe", "followed"): {
        "zh": "你追问了异议背后的原因，继续用追问区分真实顾虑和借口，把精力放在真实顾虑上（{ref}）。",
        "en": "You probed behind the objection; keep separating the real concern from the smokescreen and put "
              "your effort on the real one ({ref}).",
    },
    ("argue", "violated"): {
        "zh": "你在和客户争对错：先认同对方的感受，再用事实和数据委婉引导，而不是直接反驳（{ref}）。",
        "en": "You argued with the customer: agree with the feeling first, then guide with facts and numbers "
              "instead of contradicting ({ref}).",
    },
    ("pressure", "violated"): {
        "zh": "你在施压或下最后通牒：保持冷静礼貌，把话题拉回双方的共同目标（{ref}）。",
        "en": "You applied pressure or an ultimatum: stay calm and polite and steer back to the goal you share "
              "with the customer ({ref}).",
    },
    ("overpromise", "violated"): {
        "zh": "你做了无法兑现的承诺：只承诺确实能做到的，做不到的坦诚说明并给出可行方案（{ref}）。",
        "en": "You promised more than you can be sure to deliver: commit only to what you can prove and say "
              "plainly what you cannot ({ref}).",
    },
    ("value", "followed"): {
        "zh": "你把价值量化了，继续把每个功能换算成客户能拿去汇报的数字（{ref}）。",
        "en": "You quantified the value; keep translating each feature into a number the customer can take to "
              "their boss ({ref}).",
    },
    ("differentiate", "followed"): {
        "zh": "你讲清了与竞品的差异，继续只讲与客户需求相关的差异，不贬低对手（{ref}）。",
        "en": "You made the difference from the alternative clear; keep it tied to this customer's needs and "
              "never run the competitor down ({ref}).",
    },
    ("story", "followed"): {
        "zh": "你用了案例让价值看得见，下次把案例和客户自己的情况对照起来讲（{ref}）。",
        "en": "You used a customer story to make the value concrete; next, map it explicitly onto this "
              "customer's situation ({ref}).",
    },
    ("close", "followed"): {
        "zh": "客户释放了成交信号，你及时提出了成交，这正是时机（{ref}）。",
        "en": "The customer gave a buying signal and you asked for the order at the right moment ({ref}).",
    },
    ("close", "violated"): {
        "zh": "客户还没有释放成交信号你就要单了：先解决他的顾虑，等他问起交付、付款等细节再提成交（{ref}）。",
        "en": "You asked for the order before any buying signal: resolve the concern first and close once the "
              "customer asks about delivery, payment or next steps ({ref}).",
    },
    ("missed_signal", "violated"): {
        "zh": "客户问了交付或付款细节，这是成交信号，你却没有提出成交：下次主动、自信地提出下一步（{ref}）。",
        "en": "The customer asked about delivery or payment, a buying signal, and you did not ask for the order: "
              "propose the next step confidently ({ref}).",
    },
    ("open_question", "followed"): {
        "zh": "你用开放式问题让客户多说，接着用封闭式问题确认关键细节（{ref}）。",
        "en": "Your open question got the customer talking; follow up with a closed question to confirm the "
              "key detail ({ref}).",
    },
    ("decision_makers", "followed"): {
        "zh": "你在弄清谁参与决策、各自关心什么；接着争取和真正拍板的人当面沟通（{ref}）。",
        "en": "You worked out who takes part in the decision and what each cares about; next, get in front of "
              "the person who signs ({ref}).",
    },
    ("remedy_plan", "followed"): {
        "zh": "你担起了责任并给出了具体的补救计划；接下来按时同步进展，直到问题彻底解决（{ref}）。",
        "en": "You owned the problem and gave a concrete remedy; now keep the customer updated on progress until "
              "it is fully fixed ({ref}).",
    },
    ("reassure", "followed"): {
        "zh": "你理解并安抚了客户签约后的顾虑；用具体的支持和后续沟通让他更有信心（{ref}）。",
        "en": "You recognised the customer's post-signing worry and reassured them; back it with concrete support "
              "and follow-up ({ref}).",
    },
    ("next_steps", "followed"): {
        "zh": "你感谢了客户并讲清了后续步骤和联系人；再把关键里程碑写下来发给客户（{ref}）。",
        "en": "You thanked the customer and set out the next steps and contacts; put the milestones in writing "
              "for them ({ref}).",
    },
    ("blame_customer", "violated"): {
        "zh": "你把问题推给了客户：先虚心接受投诉、承担自己的部分，再一起分析原因、给出改进（{ref}）。",
        "en": "You put the blame on the customer: accept the complaint, own your part, then analyse the cause "
              "together and report the fix ({ref}).",
    },
    ("disparage", "violated"): {
        "zh": "你在贬低竞争对手：只讲我们与客户需求相关的独特价值，不评价对手（{ref}）。",
        "en": "You ran the competitor down: explain the value that sets us apart for this customer's needs and "
              "leave the competitor out of it ({ref}).",
    },
    ("reveal", "followed"): {
        "zh": "你让客户说出了真实顾虑：{concern}。接下来针对它回应，而不是表面的异议（{ref}）。",
        "en": "You drew out the customer's real concern: {concern}. Answer that, not the surface objection "
              "({ref}).",
    },
    ("reveal_answered", "followed"): {
        "zh": "你把客户的问题当真问题来解决，客户因此说出了真正的利害：{concern}。接下来就围绕它推进（{ref}）。",
        "en": "You treated the objection as real and answered it, so the customer told you what is really at "
              "stake: {concern}. Build on that next ({ref}).",
    },
    ("kept", "followed"): {
        "zh": "整场你没有无条件降价、施压、争辩或乱承诺；继续保持（{ref}）。",
        "en": "You never gave the price away, pressured, argued or over-promised in this session; keep it that "
              "way ({ref}).",
    },
    ("missed", "missed"): {
        "zh": "本场没有用到这条标准，它正是这个场景要练的：下次在客户提出异议后就用上（{ref}）。",
        "en": "You never used this standard, and it is what this scenario trains: apply it right after the "
              "customer raises the objection ({ref}).",
    },
}
KEPT_BY_ABSTAINING = {"s4.standard.3", "s4.caution.3", "s3.caution.1", "s4.caution.1"}
KEPT_MIN_TURNS = 4  # rep turns before "you never broke it" means something
OUTCOME_POINTS = {"progressed": 25, "time_up": 0, "walked_away": -10, None: 0}
BASE, PER_FOLLOWED, MAX_FOLLOWED, PER_VIOLATION, MAX_VIOLATION, PER_MISSED, RESOLVED_POINTS = 30, 7, 5, 10, 50, 4, 10


class StandardBook:
    """Titles of the standards, from the index when loaded, else from the standards files, else a fallback.

    The coach's moves are tied to the default standards' ids; another knowledge base passes `ids`, its map from
    those ids to its own items, and a move its map leaves out is not judged (never cited under a foreign id).
    """

    def __init__(
        self, index: Any = None, knowledge_dir: Path | None = None, ids: dict[str, str] | None = None
    ) -> None:
        self.ids = ids
        # Built-in titles are the default standards' own: another base's book never falls back to them.
        self.titles: dict[str, dict[str, str]] = (
            {k: dict(v) for k, v in FALLBACK_TITLES.items()} if ids is None else {})
        self.index = index
        if index is None and knowledge_dir is not None:
            try:
                from app.knowledge.documents import load_knowledge

                for item in load_knowledge(knowledge_dir):
                    self.titles.setdefault(item.id, {})[item.lang] = item.title
            except (CoachError, OSError) as exc:
                log.warning("standards not readable, using built-in titles: %s", exc)

    def local(self, standard: str) -> str | None:
        """Return the id this book's base judges a default standard's move against (None: not judged here)."""
        return standard if self.ids is None else self.ids.get(standard)

    def title(self, standard: str, lang: str) -> str:
        """Return the standard's title in `lang`."""
        if self.index is not None:
            chunk = self.index.get(standard, lang)
            if chunk is not None and chunk.lang == lang:
                return str(chunk.title)
        titles = self.titles.get(standard, {})
        return titles.get(lang) or next(iter(titles.values()), standard)

    def ref(self, standard: str, lang: str) -> str:
        """Return "id title" for citing a standard in a note."""
        return f"{standard} {self.title(standard, lang)}"


REVEAL_STANDARD = "s4.caution.2"


def _note(key: tuple[str, str], standard: str, lang: str, book: StandardBook, **extra: str) -> str:
    return NOTES[key][lang].format(ref=book.ref(standard, lang), **extra)


def turn_feedback(
    detections: list[Detection], signal_before: bool, events: list[str], message: str, lang: str, book: StandardBook,
    scenario: Scenario | None = None,
) -> list[dict[str, str]]:
    """Return the judged events of one rep message: what they did, against the standards.

    These items are the one source every later view derives from (rubric, breakdown, summary, strengths).
    """
    items = []
    for det in detections:
        tech = TECHNIQUES[det.technique]
        standard = book.local(tech.standard)
        if standard is None:
            continue
        verdict = tech.verdict
        if det.technique == "close" and not signal_before and (scenario is None or scenario.stage <= 4) \
                and "closed_on_answer" not in events:
            verdict = "violated"  # asking for the order before any buying signal
        items.append({
            "id": standard, "title": book.title(standard, lang), "verdict": verdict,
            "note": _note((det.technique, verdict), standard, lang, book), "evidence": det.evidence,
            "technique": det.technique,
        })
    revealed = [e.split(":", 1)[1] for e in events if e.startswith("revealed:")]
    reveal_standard, signal_standard = book.local(REVEAL_STANDARD), book.local("s4.caution.4")
    if revealed and scenario is not None and reveal_standard is not None and not any(
            i["id"] == reveal_standard and i["verdict"] == "followed" for i in items):
        # Drawing out the real concern is what s4.caution.2 asks, whichever move did it.
        spec = next(o for o in scenario.objections if o.id == revealed[0])
        # Answering a genuine objection also brings the concern out; the note says which move did it.
        asked = any(d.technique in spec.revealed_by for d in detections)
        items.append({
            "id": reveal_standard, "title": book.title(reveal_standard, lang), "verdict": "followed",
            "note": _note(("reveal" if asked else "reveal_answered", "followed"), reveal_standard, lang, book,
                          concern=spec.concern.get(lang)),
            "evidence": message, "technique": "reveal",
        })
    if "missed_signal" in events and signal_standard is not None:
        items.append({
            "id": signal_standard, "title": book.title(signal_standard, lang), "verdict": "violated",
            "note": _note(("missed_signal", "violated"), signal_standard, lang, book), "evidence": message,
            "technique": "missed_signal",
        })
    # The same words cannot earn credit and a penalty: a disparaging anecdote is not a customer story.
    bad_quotes = _bad_quotes(items)
    return [i for i in items if i["verdict"] != "followed" or i["evidence"] not in bad_quotes]


def _bad_words(technique: str) -> bool:
    """Whether a violation lies in the words themselves (arguing, a giveaway) rather than in their timing (a close
    asked too early, a buying signal missed): only bad words forfeit the credit the same quote would earn."""
    return technique in TECHNIQUES and TECHNIQUES[technique].verdict == "violated"


def _bad_quotes(items: list[dict[str, Any]]) -> set[str]:
    """Quotes judged a bad move in themselves: they earn no credit (the concession traded in a close asked too early
    still counts)."""
    return {i["evidence"] for i in items if i["verdict"] == "violated" and _bad_words(i["technique"])}


def scorecard(
    scenario: Scenario, state: dict[str, Any], turns: list[dict[str, Any]], lang: str, book: StandardBook
) -> dict[str, Any]:
    """Score a session from its judged events; every view of the card is derived from the same rubric rows."""
    rubric: list[dict[str, Any]] = []
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for turn in turns:
        bad_quotes = _bad_quotes(turn["feedback"])
        for item in turn["feedback"]:
            if item["verdict"] == "followed" and item["evidence"] in bad_quotes:
                continue  # the same words cannot earn credit and a penalty
            key = (item["id"], item["verdict"])
            if key not in rows:
                rows[key] = {"id": item["id"], "title": item["title"], "verdict": item["verdict"],
                             "evidence": item["evidence"], "turn": turn["n"], "note": item["note"], "count": 0,
                             "turns": [], "technique": item["technique"]}
                rubric.append(rows[key])
            elif item["verdict"] == "followed" and len(item["evidence"]) > len(rows[key]["evidence"]):
                # A good move is quoted at its fullest: the remedy plan with owners and times, not the first
                # "sorry, that's on us".
                rows[key].update(evidence=item["evidence"], turn=turn["n"], note=item["note"],
                                 technique=item["technique"])
            rows[key]["count"] += 1
            if turn["n"] not in rows[key]["turns"]:
                rows[key]["turns"].append(turn["n"])
    first = turns[0] if turns else None
    touched = {r["id"] for r in rubric}
    kept_by_abstaining = {book.local(sid) for sid in KEPT_BY_ABSTAINING} - {None}
    # Standards that are only ever broken (tone, arguing, over-promising) are kept by not breaking them, which a
    # trainer can credit only over a real conversation with no violation at all; otherwise they are not judged.
    clean = len(turns) >= KEPT_MIN_TURNS and not any(r["verdict"] == "violated" for r in rubric)
    for sid in scenario.trains:
        if sid in kept_by_abstaining and sid not in touched and clean:
            # Kept over the whole session: there is no one quote to show, so the row quotes none (turn 0).
            rubric.append({"id": sid, "title": book.title(sid, lang), "verdict": "followed",
                           "evidence": "", "turn": 0, "count": 1, "turns": [], "technique": None,
                           "note": _note(("kept", "followed"), sid, lang, book)})
    touched = {r["id"] for r in rubric}
    missed = [sid for sid in scenario.trains if sid not in touched and sid not in kept_by_abstaining]
    for sid in missed:
        if first is not None:
            rubric.append({"id": sid, "title": book.title(sid, lang), "verdict": "missed",
                           "evidence": "", "turn": 0, "count": 0, "turns": [], "technique": None,
                           "note": _note(("missed", "missed"), sid, lang, book)})
    followed = sorted({r["id"] for r in rubric if r["verdict"] == "followed"})
    violations = sum(r["count"] for r in rubric if r["verdict"] == "violated")

    resolved = sum(o["status"] == "resolved" for o in state["objections"]) / len(state["objections"])
    outcome = state["outcome"]
    # `reason` stays the English line clients have always read; `kind` and its values let a page say it in
    # the reader's language (see breakdown_terms).
    breakdown = [
        {"points": BASE, "reason": "base", "kind": "base"},
        {"points": PER_FOLLOWED * min(len(followed), MAX_FOLLOWED),
         "reason": f"{len(followed)} standard(s) followed: {', '.join(followed) or '-'}",
         "kind": "followed", "n": len(followed), "ids": followed},
        {"points": -min(PER_VIOLATION * violations, MAX_VIOLATION), "reason": f"{violations} violation(s)",
         "kind": "violations", "n": violations},
        {"points": -PER_MISSED * len(missed) if turns else 0,
         "reason": f"{len(missed)} trained standard(s) never used: {', '.join(missed) or '-'}",
         "kind": "missed", "n": len(missed), "ids": missed},
        {"points": OUTCOME_POINTS[outcome], "reason": f"outcome: {outcome or 'ended early'}",
         "kind": "outcome", "outcome": outcome},
        {"points": round(RESOLVED_POINTS * resolved), "reason": f"{resolved:.0%} of objections resolved",
         "kind": "resolved", "pct": round(100 * resolved)},
    ]
    score = max(0, min(100, sum(b["points"] for b in breakdown))) if turns else 0

    def cite(row: dict[str, Any]) -> str:
        # The note already names the standard (id and title).
        times = f" ×{row['count']}" if row["count"] > 1 else ""
        if not row["evidence"]:
            return f"（整场）— {row['note']}" if lang == "zh" else f"(whole session) — {row['note']}"
        if lang == "zh":
            return f"“{row['evidence']}”（第{row['turn']}轮{times}）— {row['note']}"
        return f"“{row['evidence']}” (turn {row['turn']}{times}) — {row['note']}"

    strengths = [cite(r) for r in rubric if r["verdict"] == "followed"][:5]
    improvements = [cite(r) for r in rubric if r["verdict"] == "violated"]
    improvements += [cite(r) for r in rubric if r["verdict"] == "missed"]
    return {
        "score": score, "rubric": rubric, "strengths": strengths, "improvements": improvements[:6],
        "summary": _summary(scenario, state, score, rubric, lang), "breakdown": breakdown,
        "outcome": outcome,
    }


BREAKDOWN_KINDS = ("base", "followed", "violations", "missed", "outcome", "resolved")


def breakdown_terms(row: dict[str, Any], position: int) -> dict[str, Any]:
    """Return a breakdown row's kind and values; rows scored before they carried them are read from `reason`."""
    if "kind" in row:
        return row
    kind = BREAKDOWN_KINDS[position] if position < len(BREAKDOWN_KINDS) else "other"
    reason = str(row.get("reason", ""))
    number = re.match(r"\d+", reason)
    listed = reason.partition(": ")[2]
    terms: dict[str, Any] = {**row, "kind": kind, "n": int(number.group()) if number else 0,
                             "ids": [] if listed in ("", "-") else listed.split(", ")}
    if kind == "outcome":
        terms["outcome"] = None if listed == "ended early" else listed
    if kind == "resolved":
        terms["pct"] = terms["n"]
    return terms


def consistency_problems(card: dict[str, Any]) -> list[str]:
    """Return every way the card's views disagree with its rubric rows (empty when the card is consistent)."""
    problems = []
    rubric = card["rubric"]
    followed = sorted({r["id"] for r in rubric if r["verdict"] == "followed"})
    violated = sorted({r["id"] for r in rubric if r["verdict"] == "violated"})
    violations = sum(r.get("count", 1) for r in rubric if r["verdict"] == "violated")
    reasons = [b["reason"] for b in card["breakdown"]]
    if f"{violations} violation(s)" not in reasons:
        problems.append(f"breakdown violations {reasons[2]!r} but the rubric counts {violations}")
    if not reasons[1].startswith(f"{len(followed)} standard(s) followed: {', '.join(followed) or '-'}"):
        problems.append(f"breakdown followed {reasons[1]!r} but the rubric has {followed}")
    if card["rubric"] and max(0, min(100, sum(b["points"] for b in card["breakdown"]))) != card["score"]:
        problems.append("score is not the sum of the breakdown")
    for sid in violated:
        if sid not in card["summary"]:
            problems.append(f"summary does not name violated {sid}")
    for sid in followed:
        if sid not in card["summary"]:
            problems.append(f"summary does not name followed {sid}")
    by_turn_quote: dict[tuple[int, str], set[str]] = {}
    for r in rubric:
        # Bad timing is not bad words: the same sentence may trade a concession well (rows of older cards name no
        # technique and are all checked).
        timing = r["verdict"] == "violated" and r.get("technique") is not None and not _bad_words(r["technique"])
        if r["verdict"] in ("followed", "violated") and r.get("count", 1) and r["id"] not in KEPT_BY_ABSTAINING \
                and not timing:
            by_turn_quote.setdefault((r["turn"], r["evidence"]), set()).add(r["verdict"])
    problems += [f"turn {t} quote {q[:40]!r} is both followed and violated"
                 for (t, q), verdicts in by_turn_quote.items() if len(verdicts) > 1]
    if len(card["strengths"]) != min(5, len([r for r in rubric if r["verdict"] == "followed"])):
        problems.append("strengths do not match the followed rows")
    notes = [r["note"] for r in rubric if r["verdict"] == "followed"]
    if any(not any(s.endswith(f"— {note}") for note in notes) for s in card["strengths"]):  # a quote may hold "— "
        problems.append("a strength is not a followed row")
    return problems


def _summary(scenario: Scenario, state: dict[str, Any], score: int, rubric: list[dict[str, Any]], lang: str) -> str:
    followed = sorted({r["id"] for r in rubric if r["verdict"] == "followed"})
    violated = sorted({r["id"] for r in rubric if r["verdict"] == "violated"})
    times = sum(r.get("count", 1) for r in rubric if r["verdict"] == "violated")
    worst_id = max((r for r in rubric if r["verdict"] == "violated"), key=lambda r: r.get("count", 1),
                   default=None)
    revealed = [o for o in scenario.objections
                if any(s["id"] == o.id and s["status"] in ("revealed", "resolved") for s in state["objections"])]
    outcome = state["outcome"]
    if lang == "zh":
        ends = {"progressed": "客户同意推进", "walked_away": "客户离开了", "time_up": "时间到，没有推进",
                None: "提前结束"}[outcome]
        concern = "；你找到了真实顾虑：" + "；".join(o.concern.zh for o in revealed) if revealed else \
            "；你没有找到客户的真实顾虑"
        worst = f"；最需要改进：{worst_id['id']}" if worst_id else ""
        kept, broke = "、".join(followed) or "无", "、".join(violated) or "无"
        return (f"得分 {score}/100：{ends}{concern}。遵循了 {len(followed)} 条标准（{kept}），"
                f"违反了 {len(violated)} 条（{broke}，共 {times} 次）{worst}。")
    ends = {"progressed": "the customer agreed to move forward", "walked_away": "the customer walked away",
            "time_up": "time ran out without progress", None: "the session was ended early"}[outcome]
    concern = "; you uncovered the real concern: " + "; ".join(o.concern.en for o in revealed) if revealed else \
        "; you never uncovered the customer's real concern"
    worst = f"; first thing to fix: {worst_id['id']}" if worst_id else ""
    return (f"Score {score}/100: {ends}{concern}. You followed {len(followed)} standard(s) "
            f"({', '.join(followed) or 'none'}) and broke {len(violated)} ({', '.join(violated) or 'none'}; "
            f"{times} time(s)){worst}.")

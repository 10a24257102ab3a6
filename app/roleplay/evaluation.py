"""`coach eval roleplay`: technique-detection precision/recall and scripted good-vs-poor transcripts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.roleplay.scenarios import FACT_SLOTS
from app.roleplay.techniques import TECHNIQUES, Detector
from app.text import letters

SHEET_SLOTS = frozenset(FACT_SLOTS)  # what a scenario's fact sheet can answer; `other` is anything else

if TYPE_CHECKING:
    from app.roleplay.service import RoleplayService


def load_labelled(path: Path) -> list[dict[str, object]]:
    """Read a JSONL file of {"text", "lang", "labels"} rows."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for n, row in enumerate(rows, start=1):
        unknown = set(row["labels"]) - set(TECHNIQUES)
        if unknown:
            raise ValueError(f"{path.name} line {n}: unknown technique(s) {sorted(unknown)}")
    return rows


def detection_scores(
    rows: Iterable[dict[str, object]], detect: Callable[[int, str], set[str]]
) -> dict[str, dict[str, float]]:
    """Return per-technique precision, recall and support for `detect` over labelled rows."""
    counts = {name: {"tp": 0, "fp": 0, "fn": 0} for name in TECHNIQUES}
    errors: list[dict[str, object]] = []
    for i, row in enumerate(rows):
        gold = set(row["labels"])  # type: ignore[call-overload]
        got = detect(i, str(row["text"]))
        for name in TECHNIQUES:
            if name in got and name in gold:
                counts[name]["tp"] += 1
            elif name in got:
                counts[name]["fp"] += 1
            elif name in gold:
                counts[name]["fn"] += 1
        if got != gold:
            errors.append({"text": row["text"], "expected": sorted(gold), "got": sorted(got)})
    table: dict[str, dict[str, float]] = {}
    for name, c in counts.items():
        precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
        recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0
        table[name] = {"precision": round(precision, 3), "recall": round(recall, 3),
                       "support": c["tp"] + c["fn"], "tp": c["tp"], "fp": c["fp"], "fn": c["fn"]}
    table["_errors"] = errors  # type: ignore[assignment]
    return table


def evaluate_detector(detector: Detector, rows: list[dict[str, object]]) -> dict:
    """Score the detector on labelled rows."""
    texts = [str(row["text"]) for row in rows]
    found = detector.detect_many(texts)
    return detection_scores(rows, lambda i, _text: {d.technique for d in found[i]})


def format_detection_table(table: dict) -> str:
    """Render a precision/recall table."""
    lines = [f"{'technique':<15} {'standard':<14} {'precision':>9} {'recall':>7} {'n':>4}"]
    for name, tech in TECHNIQUES.items():
        row = table[name]
        lines.append(f"{name:<15} {tech.standard:<14} {row['precision']:>9.2f} {row['recall']:>7.2f} "
                     f"{row['support']:>4}")
    return "\n".join(lines)


def load_scripts(folder: Path) -> list[dict[str, Any]]:
    """Read the scripted transcripts: one YAML file per scenario with good and poor reps."""
    import yaml

    scripts = []
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for n, transcript in enumerate(data["transcripts"]):
            if transcript.get("rep") not in ("good", "poor") or not transcript.get("messages"):
                raise ValueError(f"{path.name}: transcripts.{n} needs rep: good|poor and a list of messages")
            scripts.append({"scenario": data["scenario"], "file": path.name, **transcript})
    return scripts


def play_script(service: RoleplayService, script: dict[str, Any]) -> dict[str, Any]:
    """Play one scripted transcript through the service and return it with feedback and scorecard."""
    started = service.start(script["scenario"], script["lang"], script.get("difficulty"), rep=f"eval-{script['rep']}")
    session_id = started["session_id"]
    voice: list[dict[str, Any]] = []
    for message in script["messages"]:
        report: dict[str, Any] = {}
        out = service.turn(session_id, message, report=report)
        if report:
            voice.append({"rep": message, "customer": out["customer"], **report})
        if out["done"]:
            break
    card = service.end(session_id)
    session = service.get(session_id)
    return {"scenario": script["scenario"], "rep": script["rep"], "lang": script["lang"],
            "difficulty": session["difficulty"], "transcript": session["transcript"], "scorecard": card,
            "voice": voice}


def score_gaps(played: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return good-minus-poor score per scenario and language."""
    scores: dict[tuple[str, str], dict[str, int]] = {}
    for run in played:
        scores.setdefault((run["scenario"], run["lang"]), {})[run["rep"]] = run["scorecard"]["score"]
    return [{"scenario": s, "lang": lang, "good": v.get("good"), "poor": v.get("poor"),
             "gap": (v["good"] - v["poor"]) if "good" in v and "poor" in v else None}
            for (s, lang), v in sorted(scores.items())]


def render_transcript(run: dict[str, Any]) -> str:
    """Render a played transcript, its feedback and scorecard as Markdown."""
    out = [f"### {run['scenario']} — {run['rep']} rep ({run['lang']}, {run['difficulty']})", ""]
    for line in run["transcript"]:
        who = "Customer" if line["role"] == "customer" else "Rep"
        out.append(f"**{who}:** {line['text']}")
        for item in line.get("feedback", []):
            out.append(f"  - `{item['id']}` {item['verdict']}: {item['note']}  (evidence: “{item['evidence']}”)")
    card = run["scorecard"]
    out += ["", f"**Scorecard: {card['score']}/100** — {card['summary']}", ""]
    out += [f"- {b['points']:+d} {b['reason']}" for b in card["breakdown"]]
    out += ["", "Rubric:"]
    out += [f"- `{r['id']}` {r['title']} — {r['verdict']} (turn {r['turn']}): “{r['evidence']}”"
            for r in card["rubric"]]
    out += ["", "Strengths:"] + [f"- {s}" for s in card["strengths"]]
    out += ["", "Improvements:"] + [f"- {s}" for s in card["improvements"]]
    return "\n".join(out)


def load_sessions(path: Path) -> list[dict[str, Any]]:
    """Read labelled multi-turn sessions: {"id", "scenario", "lang", "turns": [{"text", "moves", "asks_fact",
    "kind"}]}."""
    sessions = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for session in sessions:
        for n, turn in enumerate(session["turns"], start=1):
            unknown = set(turn["moves"]) - set(TECHNIQUES)
            if unknown:
                raise ValueError(f"{path.name} {session['id']} turn {n}: unknown technique(s) {sorted(unknown)}")
    return sessions


def play_session(service: RoleplayService, session: dict[str, Any]) -> dict[str, Any]:
    """Play a labelled session through the service (as typed) and record, per turn, what the coach did."""
    from app.roleplay.techniques import sentences
    from app.roleplay.voice import carries_fact

    started = service.start(session["scenario"], session["lang"], rep="eval-blind")
    sid = started["session_id"]
    scenario = service.scenarios[session["scenario"]]
    turns: list[dict[str, Any]] = []
    ended = False
    for turn in session["turns"]:
        analysis = service.detector.analyse(turn["text"])
        record: dict[str, Any] = {**turn, "detected": sorted(analysis.techniques),
                                  "facts_detected": [f.slot for f in analysis.facts], "kind_detected": analysis.kind,
                                  "played": False}
        if not ended:
            report: dict[str, Any] = {}
            out = service.turn(sid, turn["text"], report=report)
            ended = out["done"]
            voiced = report.get("outcome") == "served"  # a model's line gives a fact in its own words
            said = letters(out["customer"])  # a fact said again runs its sentences into one: compare the words
            answers = {slot: any(letters(line) in said for line in fact.get(session["lang"]))
                       or (voiced and carries_fact(out["customer"], fact.get(session["lang"])))
                       for slot, fact in scenario.facts.items()}
            if report:
                record["voice"] = report
            record.update(played=True, customer=out["customer"], done=out["done"],
                          feedback=[{k: i[k] for k in ("id", "verdict", "technique", "evidence")}
                                    for i in out["feedback"]],
                          facts_answered=sorted(s for s, ok in answers.items() if ok),
                          customer_sentences=sentences(out["customer"]))
        turns.append(record)
    card = service.end(sid)
    return {"id": session["id"], "scenario": session["scenario"], "lang": session["lang"], "turns": turns,
            "scorecard": card, "opening": started["customer"]}


def session_metrics(played: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's goals: false violations on good moves, violation recall, facts answered, repeats, consistency."""
    from app.roleplay.scoring import consistency_problems

    violations = {n for n, t in TECHNIQUES.items() if t.verdict == "violated"}
    turns = [t for s in played for t in s["turns"]]
    false_violation_turns = [t for t in turns if (set(t["detected"]) & violations) - set(t["moves"])]
    judged = [t for t in turns if t["played"]]
    false_feedback = [t for t in judged if any(
        i["verdict"] == "violated" and i["technique"] not in t["moves"] and i["technique"] != "missed_signal"
        for i in t["feedback"])]
    gold_violations = [(t, m) for t in turns for m in t["moves"] if m in violations]
    # "Answered from the fact sheet" is judged on questions the sheet can answer: a question only for a fact outside
    # its slots (`other`, e.g. "what's really holding you back?" labelled so) can at best get "I don't know offhand".
    fact_turns = [t for t in judged if set(t["asks_fact"]) & SHEET_SLOTS]
    off_sheet = [t for t in judged if t["asks_fact"] and not set(t["asks_fact"]) & SHEET_SLOTS]
    answered = [t for t in fact_turns if set(t["asks_fact"]) & set(t["facts_answered"])]
    repeats = 0
    for s in played:
        seen: set[str] = {s["opening"]}
        for t in s["turns"]:
            asked_to_repeat = t["kind_detected"] == "repeat_request"
            for sentence in t.get("customer_sentences", []):
                # Saying the last point again is what a rep who asked "can you repeat?" should get.
                repeats += int(sentence in seen and not asked_to_repeat)
                seen.add(sentence)
    problems = {s["id"]: consistency_problems(s["scorecard"]) for s in played}
    per_technique = {}
    for name in TECHNIQUES:
        tp = sum(1 for t in turns if name in t["detected"] and name in t["moves"])
        fp = sum(1 for t in turns if name in t["detected"] and name not in t["moves"])
        fn = sum(1 for t in turns if name not in t["detected"] and name in t["moves"])
        per_technique[name] = {"precision": round(tp / (tp + fp), 3) if tp + fp else 1.0,
                               "recall": round(tp / (tp + fn), 3) if tp + fn else 1.0, "support": tp + fn}
    kinds = [t for t in turns if t["kind"] != "normal"]
    return {
        "sessions": len(played), "turns": len(turns), "turns_played": len(judged),
        "false_violation_turn_rate": round(len(false_violation_turns) / len(turns), 3) if turns else 0.0,
        "false_violation_feedback_rate": round(len(false_feedback) / len(judged), 3) if judged else 0.0,
        "violation_recall": round(sum(1 for t, m in gold_violations if m in t["detected"]) / len(gold_violations), 3)
        if gold_violations else 1.0,
        "fact_questions_played": len(fact_turns),
        "off_sheet_fact_questions_played": len(off_sheet),
        "facts_answered_rate": round(len(answered) / len(fact_turns), 3) if fact_turns else 1.0,
        "small_talk_kind_recall": round(sum(1 for t in kinds if t["kind_detected"] == t["kind"]) / len(kinds), 3)
        if kinds else 1.0,
        "repeated_customer_sentences": repeats,
        "scorecard_inconsistencies": sum(len(p) for p in problems.values()),
        "inconsistency_details": {k: v for k, v in problems.items() if v},
        "per_technique": per_technique,
        "false_violations": [{"session": s["id"], "text": t["text"], "moves": t["moves"], "detected": t["detected"]}
                             for s in played for t in s["turns"] if t in false_violation_turns],
        "missed_violations": [{"session": s["id"], "text": t["text"], "moves": t["moves"], "detected": t["detected"]}
                              for s in played for t in s["turns"]
                              if (set(t["moves"]) & violations) - set(t["detected"])],
        "unanswered_facts": [{"session": s["id"], "text": t["text"], "asks": t["asks_fact"],
                              "detected": t["facts_detected"], "customer": t.get("customer")}
                             for s in played for t in s["turns"] if t in fact_turns and t not in answered],
    }


def voice_metrics(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """What a configured model did as the customer: only the lines it served are scored, and every reason a line
    was replaced is counted.

    `lines`: one row a model call, {"lang", "customer" (what was sent), and the voice report: "outcome", "reason",
    "raw", "first_token_ms", "total_ms"}.
    """
    from collections import Counter

    from app.roleplay.voice import ASSISTANT_SPEAK, SELLER_VOICE
    from app.text import detect_language

    served = [r for r in lines if r.get("outcome") == "served"]
    firsts = sorted(r["first_token_ms"] for r in lines if r.get("first_token_ms") is not None)
    totals = sorted(r["total_ms"] for r in lines if r.get("total_ms") is not None)

    def pct(values: list[float], q: float) -> float | None:
        return values[min(len(values) - 1, int(q * len(values)))] if values else None

    return {
        "model_calls": len(lines),
        "served": len(served),
        "served_rate": round(len(served) / len(lines), 3) if lines else None,
        "replaced_reasons": dict(Counter(r.get("reason", "?") for r in lines if r.get("outcome") != "served")
                                 .most_common()),
        "served_in_session_language": round(sum(detect_language(r["customer"]) == r["lang"] for r in served)
                                            / len(served), 3) if served else None,
        "served_refusals_or_seller_voice": sum(bool(ASSISTANT_SPEAK.search(r["customer"])
                                                    or SELLER_VOICE.search(r["customer"])) for r in served),
        "first_token_ms_p50": pct(firsts, 0.5), "first_token_ms_p95": pct(firsts, 0.95),
        "total_ms_p50": pct(totals, 0.5), "total_ms_p95": pct(totals, 0.95),
    }

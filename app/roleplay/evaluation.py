"""`coach eval roleplay`: technique-detection precision/recall and scripted good-vs-poor transcripts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.roleplay.techniques import TECHNIQUES, Detector

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


def evaluate_detector(detector: Detector, rows: list[dict[str, object]], leave_one_out: bool = False) -> dict:
    """Score the detector on `rows`; with leave_one_out, each row is an exemplar hidden from itself."""
    texts = [str(row["text"]) for row in rows]
    exclude: list[int | None] = list(range(len(rows))) if leave_one_out else [None] * len(rows)
    found = detector.detect_many(texts, exclude)
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
    for message in script["messages"]:
        if service.turn(session_id, message)["done"]:
            break
    card = service.end(session_id)
    session = service.get(session_id)
    return {"scenario": script["scenario"], "rep": script["rep"], "lang": script["lang"],
            "difficulty": session["difficulty"], "transcript": session["transcript"], "scorecard": card}


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

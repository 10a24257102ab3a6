"""`coach roleplay SCENARIO` (practise in the terminal) and `coach eval roleplay` (detection and scoring checks)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from app.config import ROOT

# Every label the practice loop prints, in the session's language.
LABELS = {
    "zh": {
        "customer": "客户", "you": "你", "score": "得分", "strengths": "做得好的", "improvements": "需要改进",
        "hint": "（输入你的回复；输入 结束 或 end 结束练习并查看评分）", "evidence": "依据原话",
        "followed": "做到", "violated": "违反", "trust": "信任", "patience": "耐心", "progress": "进展",
        "stage": "阶段",
    },
    "en": {
        "customer": "Customer", "you": "You", "score": "Score", "strengths": "Strengths",
        "improvements": "Improvements", "hint": "(type your reply; end or 结束 finishes and shows the scorecard)",
        "evidence": "evidence", "followed": "followed", "violated": "violated", "trust": "trust",
        "patience": "patience", "progress": "progress", "stage": "stage",
    },
}
COLON = {"zh": "：", "en": ": "}


def register(cli: Any, eval_cli: Any) -> None:
    """Add the role-play commands to the `coach` CLI."""
    cli.command("roleplay")(roleplay)
    eval_cli.command("roleplay")(eval_roleplay)
    eval_cli.command("sessions")(eval_sessions)


def _print_feedback(feedback: list[dict[str, str]], lang: str) -> None:
    label = LABELS[lang]
    for item in feedback:
        colour = typer.colors.GREEN if item["verdict"] == "followed" else typer.colors.RED
        typer.secho(f"   [{label.get(item['verdict'], item['verdict'])}] {item['id']} {item['title']}", fg=colour)
        typer.echo(f"      {item['note']}")
        typer.echo(f"      {label['evidence']}{COLON[lang]}“{item['evidence']}”")


def roleplay(
    scenario: Annotated[str | None, typer.Argument(help="Scenario id; omit to list them.")] = None,
    lang: Annotated[str, typer.Option(help="Session language: zh or en.")] = "zh",
    difficulty: Annotated[str | None, typer.Option(help="easy, normal or hard (default: the scenario's).")] = None,
    rep: Annotated[str | None, typer.Option(help="Your name, for the trainer views.")] = None,
) -> None:
    """Practise a scenario in the terminal: the coach plays the customer; feedback after each turn."""
    from app.cli import _settings
    from app.container import build_container
    from app.roleplay.engine import END_WORDS

    container = build_container(_settings())
    service = container.roleplay
    try:
        if scenario is None:
            for s in service.list_scenarios():
                typer.echo(f"{s['id']:<24} {LABELS.get(lang, LABELS['en'])['stage']} {s['stage']}  "
                           f"{s['difficulty']:<6}  {s['title'][lang]}")
            return
        started = service.start(scenario, lang, difficulty, rep)
        label, colon = LABELS[lang], COLON[lang]
        typer.echo(f"{started['scenario']['title'][lang]}\n{started['scenario']['persona'][lang]}")
        typer.secho(f"{label['hint']}\n", dim=True)
        typer.secho(f"{label['customer']}{colon}{started['customer']}", fg=typer.colors.CYAN)
        while True:
            try:
                message = input(f"{label['you']}{colon}").strip()
            except EOFError:
                break
            if not message:
                continue
            if message.lower().lstrip("/").rstrip(".!。！") in END_WORDS:
                break
            out = service.turn(started["session_id"], message)
            _print_feedback(out["feedback"], lang)
            typer.secho(f"{label['customer']}{colon}{out['customer']}", fg=typer.colors.CYAN)
            state = out["state"]
            typer.secho(f"   {label['trust']} {state['trust']}  {label['patience']} {state['patience']}  "
                        f"{label['progress']} {state['progress']}", dim=True)
            if out["done"]:
                break
        card = service.end(started["session_id"])
        typer.echo(f"\n{label['score']}{colon}{card['score']}/100\n{card['summary']}")
        for key in ("strengths", "improvements"):
            typer.echo(f"\n{label[key]}{colon.strip()}")
            for row in card[key]:
                typer.echo(f" - {row}")
    finally:
        container.close()


def eval_roleplay(
    save: Annotated[bool, typer.Option(help="Write results to evals/results/.")] = True,
    show: Annotated[str | None, typer.Option(help="Print this scenario's transcripts as Markdown.")] = None,
    errors: Annotated[bool, typer.Option("--errors", help="List misdetected messages.")] = False,
    labelled: Annotated[
        list[Path] | None, typer.Option(help="Labelled rep messages to score detection on (repeatable).")
    ] = None,
) -> None:
    """Report technique precision/recall on held-out messages and check good reps outscore poor ones by 30."""
    from app.cli import _settings
    from app.container import build_container
    from app.roleplay.evaluation import (
        evaluate_detector,
        format_detection_table,
        load_labelled,
        load_scripts,
        play_script,
        render_transcript,
        score_gaps,
    )

    settings = _settings()
    with tempfile.TemporaryDirectory() as tmp:
        # Scripted sessions go to a scratch database so they never mix with real practice sessions. A configured
        # LLM voices the customer, as it would for a rep (COACH_LLM=none for the offline engine alone).
        db_url = f"sqlite:///{Path(tmp, 'eval.db').as_posix()}"
        container = build_container(settings.model_copy(update={"database_url": db_url}))
        try:
            service = container.roleplay
            files = labelled or [ROOT / "evals" / "techniques.jsonl", ROOT / "evals" / "techniques-blind.jsonl"]
            tables = {}
            for path in files:
                rows = load_labelled(path)
                tables[path.name] = evaluate_detector(service.detector, rows)
                typer.echo(f"Technique detection on {len(rows)} held-out messages ({path.name}):")
                typer.echo(format_detection_table(tables[path.name]))
                if errors:
                    for err in tables[path.name]["_errors"]:
                        typer.echo(f"  {err}")
            held_out = tables[files[0].name]
            played = [play_script(service, s) for s in load_scripts(ROOT / "evals" / "roleplay")]
        finally:
            container.close()
    gaps = score_gaps(played)
    typer.echo("\nScripted transcripts: good rep vs poor rep (goal: gap >= 30 in every scenario)")
    typer.echo(f"{'scenario':<24} {'lang':<4} {'good':>4} {'poor':>4} {'gap':>4}")
    for g in gaps:
        typer.echo(f"{g['scenario']:<24} {g['lang']:<4} {g['good']!s:>4} {g['poor']!s:>4} {g['gap']!s:>4}")
    missing = sorted(set(service.scenarios) - {g["scenario"] for g in gaps})
    failed = [g for g in gaps if g["gap"] is None or g["gap"] < 30]
    below = sorted({
        f"{n} ({name})" for name, table in tables.items() for n, r in table.items()
        if not n.startswith("_") and min(r["precision"], r["recall"]) < 0.85
    })
    if show:
        for run in played:
            if run["scenario"] == show:
                typer.echo("\n" + render_transcript(run))
    voice = _voice_report("roleplay", settings.llm, [
        {"lang": run["lang"], "scenario": run["scenario"], **line} for run in played for line in run["voice"]], save)
    if save:
        suffix = "" if settings.llm == "none" else f"-{settings.llm}"
        out = ROOT / "evals" / "results" / f"roleplay{suffix}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "llm": settings.llm, "voice": voice,
            "embedder": container.embedder.name,
            "detection_held_out": {k: v for k, v in held_out.items() if not k.startswith("_")},
            "detection_held_out_errors": held_out["_errors"],
            "detection_by_file": {
                name: {k: v for k, v in table.items() if not k.startswith("_")} for name, table in tables.items()
            },
            "score_gaps": gaps,
            "transcripts": played,
        }
        out.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        typer.echo(f"saved {out.relative_to(ROOT)}")
    if below:
        typer.secho(f"below the 0.85 goal: {', '.join(below)}", fg=typer.colors.YELLOW)
    if missing or failed:
        typer.secho(f"FAILED: scenarios without scripts {missing}; gaps under 30: "
                    f"{[(g['scenario'], g['lang']) for g in failed]}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


def eval_sessions(
    files: Annotated[list[Path] | None, typer.Argument(help="Labelled multi-turn sessions (JSONL).")] = None,
    save: Annotated[bool, typer.Option(help="Write results to evals/results/.")] = True,
    errors: Annotated[bool, typer.Option("--errors", help="List false and missed violations, unanswered facts.")]
    = False,
    show: Annotated[str | None, typer.Option(help="Print this session id's transcript.")] = None,
) -> None:
    """Play labelled sessions typed the way reps type: false violations, violation recall, facts answered,
    repeated customer lines and scorecard consistency."""
    from app.cli import _settings
    from app.container import build_container
    from app.roleplay.evaluation import load_sessions, play_session, session_metrics

    settings = _settings()
    files = files or [ROOT / "evals" / "roleplay-blind.jsonl"]
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp, 'eval.db').as_posix()}"
        container = build_container(settings.model_copy(update={"database_url": db_url}))
        try:
            results = {path.name: [play_session(container.roleplay, s) for s in load_sessions(path)]
                       for path in files}
        finally:
            container.close()
    for name, played in results.items():
        m = session_metrics(played)
        typer.echo(f"{name}: {m['sessions']} sessions, {m['turns']} turns ({m['turns_played']} played before the "
                   f"customer ended the session)")
        for key, goal in (("false_violation_turn_rate", "<= 0.03"), ("false_violation_feedback_rate", "<= 0.03"),
                          ("violation_recall", ">= 0.85"), ("facts_answered_rate", ">= 0.90"),
                          ("fact_questions_played", ""), ("off_sheet_fact_questions_played", ""),
                          ("small_talk_kind_recall", ""), ("repeated_customer_sentences", "0"),
                          ("scorecard_inconsistencies", "0")):
            typer.echo(f"  {key:<32} {m[key]!s:>6}   goal {goal}")
        typer.echo("  per technique (turn level):")
        for tech, row in m["per_technique"].items():
            typer.echo(f"    {tech:<16} P {row['precision']:.2f}  R {row['recall']:.2f}  n {row['support']}")
        if errors:
            for key in ("false_violations", "missed_violations", "unanswered_facts"):
                typer.echo(f"  {key}:")
                for row in m[key]:
                    typer.echo(f"    {json.dumps(row, ensure_ascii=False)}")
            for sid, problems in m["inconsistency_details"].items():
                typer.echo(f"  scorecard {sid}: {problems}")
        if show:
            for s in played:
                if s["id"] == show:
                    typer.echo(f"\nCustomer: {s['opening']}")
                    for t in s["turns"]:
                        typer.echo(f"Rep: {t['text']}\n  detected {t['detected']} facts {t['facts_detected']} "
                                   f"kind {t['kind_detected']}")
                        if t["played"]:
                            typer.echo(f"Customer: {t['customer']}")
                    typer.echo(f"Score {s['scorecard']['score']}: {s['scorecard']['summary']}")
        voice = _voice_report(f"sessions-{Path(name).stem}", settings.llm, [
            {"lang": s["lang"], "scenario": s["scenario"], "session": s["id"], "rep": t["text"],
             "customer": t["customer"], **t["voice"]} for s in played for t in s["turns"] if t.get("voice")], save)
        if save:
            suffix = "" if settings.llm == "none" else f"-{settings.llm}"
            out = ROOT / "evals" / "results" / f"sessions-{Path(name).stem}{suffix}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps({"embedder": settings.embedder, "llm": settings.llm, "voice": voice, **m,
                                       "played": played}, indent=1,
                                      ensure_ascii=False) + "\n", encoding="utf-8")
            typer.echo(f"saved {out.relative_to(ROOT)}")


def _voice_report(name: str, llm: str, lines: list[dict[str, Any]], save: bool) -> dict[str, Any] | None:
    """Print what the configured model did as the customer and save its raw outputs beside the results."""
    from app.roleplay.evaluation import voice_metrics

    if llm == "none":
        return None
    metrics = voice_metrics(lines)
    typer.echo(f"  customer voice ({llm}): {metrics['served']} of {metrics['model_calls']} model lines served "
               f"({metrics['served_rate']}); replaced: {metrics['replaced_reasons']}")
    typer.echo(f"    served in the session language {metrics['served_in_session_language']}; refusals or seller "
               f"voice served {metrics['served_refusals_or_seller_voice']}; first token p50/p95 "
               f"{metrics['first_token_ms_p50']}/{metrics['first_token_ms_p95']} ms; whole line p50/p95 "
               f"{metrics['total_ms_p50']}/{metrics['total_ms_p95']} ms")
    if save:
        raw = ROOT / "evals" / "results" / f"{name}-{llm}.raw.jsonl"
        raw.parent.mkdir(parents=True, exist_ok=True)
        raw.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
        typer.echo(f"  saved the model's raw lines to {raw.relative_to(ROOT)}")
    return metrics

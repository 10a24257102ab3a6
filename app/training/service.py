"""TrainingService: what trainers add on top of practice and chat — reviews, overrides, assignments, gaps.

It reads role-play sessions and the unanswered-questions report only through RoleplayService's and
ChatService's public methods, and keeps its own rows in app/training/store.py.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from app.errors import BadRequestError, NotFoundError
from app.knowledge.bases import DEFAULT
from app.training.store import Assignment, GapDecision, ScoreOverride, TurnComment, VerdictOverride

if TYPE_CHECKING:
    from app.container import Container

VERDICTS = ("followed", "violated", "missed")
STATUSES = ("not_started", "in_progress", "passed", "below_minimum", "past_due")
LEARNED_PHRASES = "learned-phrases.jsonl"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MAX_SESSIONS = 10_000


def formula_safe(value: Any) -> Any:
    """Return a CSV cell that a spreadsheet will not run as a formula (text starting = + - @ gets a quote)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([formula_safe(cell) for cell in row])
    return out.getvalue()


def _naive(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def question_key(question: str) -> str:
    """Return the key the unanswered report groups a question by (case and spacing folded)."""
    return " ".join(question.lower().split())[:512]


@dataclass
class Cell:
    """One rep × standard square of the heatmap: how often the rubric said followed, violated, missed."""

    followed: int = 0
    violated: int = 0
    missed: int = 0

    @property
    def total(self) -> int:
        """Return the number of rubric rows counted."""
        return self.followed + self.violated + self.missed

    def rate(self, verdict: str) -> float:
        """Return the share of rows with `verdict`."""
        return getattr(self, verdict) / self.total if self.total else 0.0

    @property
    def colour(self) -> str:
        """Return a background colour: green when mostly followed, red when mostly violated or missed."""
        if not self.total:
            return "#f2f2f2"
        balance = self.rate("followed") - self.rate("violated") - 0.5 * self.rate("missed")  # -1 .. 1
        hue = round(60 + 60 * balance)  # 0 red .. 60 yellow .. 120 green
        return f"hsl({hue}, 65%, 82%)"


@dataclass
class Heatmap:
    """Reps × standards, counted over ended sessions' scorecard rubrics with trainer overrides applied."""

    reps: list[str]
    standards: list[str]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)

    def cell(self, rep: str, standard: str) -> Cell:
        """Return the cell (empty when the rep never met the standard)."""
        return self.cells.get((rep, standard), Cell())


class TrainingService:
    """Trainer reviews, overrides, assignments and knowledge-gap decisions."""

    def __init__(self, container: Container) -> None:
        self.database = container.database
        self.roleplay = container.roleplay
        self.chat = container.chat
        self.knowledge_dir: Path = container.settings.knowledge_dir

    # -- sessions with overrides -----------------------------------------------------------------------------

    def _score_overrides(self) -> dict[str, ScoreOverride]:
        with self.database.session() as db:
            rows = list(db.scalars(select(ScoreOverride)))
            db.expunge_all()
        return {r.session_id: r for r in rows}

    def sessions(
        self, rep: str | None = None, scenario: str | None = None, kb: str = DEFAULT
    ) -> list[dict[str, Any]]:
        """Return sessions newest first; `score` is the trainer's override if any, `engine_score` the original."""
        overrides = self._score_overrides()
        rows = self.roleplay.sessions(rep, scenario, limit=MAX_SESSIONS, kb=kb)
        for row in rows:
            row["engine_score"] = row["score"]
            override = overrides.get(row["session_id"])
            row["overridden"] = override is not None
            if override is not None:
                row["score"] = override.score
        return rows

    def review(self, session_id: str, kb: str = DEFAULT) -> dict[str, Any]:
        """Return the session with comments per turn and the rubric with overrides beside the originals."""
        session = self.roleplay.get(session_id, kb=kb)
        with self.database.session() as db:
            comments = list(db.scalars(select(TurnComment).where(TurnComment.session_id == session_id)
                                       .order_by(TurnComment.id)))
            verdicts = list(db.scalars(select(VerdictOverride).where(VerdictOverride.session_id == session_id)))
            score = db.get(ScoreOverride, session_id)
            db.expunge_all()
        by_turn: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for c in comments:
            by_turn[c.turn].append({"text": c.text, "author": c.author, "created_at": c.created_at})
        changed = {(v.standard, v.original): v for v in verdicts}
        card = session.get("scorecard")
        if card:
            for row in card["rubric"]:
                override = changed.get((row["id"], row["verdict"]))
                row["override"] = override.verdict if override else None
                row["override_reason"] = override.reason if override else None
        session["comments"] = dict(by_turn)
        session["score_override"] = {"score": score.score, "reason": score.reason} if score else None
        return session

    def add_comment(self, session_id: str, turn: int, text: str, author: str = "trainer", kb: str = DEFAULT) -> None:
        """Pin a comment to one turn of a session."""
        session = self.roleplay.get(session_id, kb=kb)
        turns = {t["turn"] for t in session["transcript"]}
        if turn not in turns:
            raise BadRequestError(f"session {session_id!r} has no turn {turn}; turns are {sorted(turns)}")
        text = text.strip()
        if not text:
            raise BadRequestError("the comment is empty; write what the rep should change")
        with self.database.session() as db:
            db.add(TurnComment(session_id=session_id, turn=turn, author=author, text=text))

    def override_verdict(self, session_id: str, standard: str, original: str, verdict: str,
                         reason: str | None = None, kb: str = DEFAULT) -> None:
        """Replace the engine's verdict on one rubric row (the original stays stored on the scorecard)."""
        if verdict not in VERDICTS:
            raise BadRequestError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
        card = self.roleplay.get(session_id, kb=kb).get("scorecard")
        if not card or not any(r["id"] == standard and r["verdict"] == original for r in card["rubric"]):
            raise NotFoundError(f"session {session_id!r} has no scorecard row {standard} ({original}); "
                                "end the session first or pick a row from its scorecard")
        with self.database.session() as db:
            db.execute(delete(VerdictOverride).where(
                VerdictOverride.session_id == session_id, VerdictOverride.standard == standard,
                VerdictOverride.original == original))
            if verdict != original:
                db.add(VerdictOverride(session_id=session_id, standard=standard, original=original, verdict=verdict,
                                       reason=(reason or "").strip() or None))

    def override_score(
        self, session_id: str, score: int | None, reason: str | None = None, kb: str = DEFAULT
    ) -> None:
        """Set the trainer's score for a session (None removes the override)."""
        session = self.roleplay.get(session_id, kb=kb)
        if session["scorecard"] is None:
            raise BadRequestError(f"session {session_id!r} has not ended; a score can be overridden once it has")
        if score is not None and not 0 <= score <= 100:
            raise BadRequestError("score must be between 0 and 100")
        with self.database.session() as db:
            db.execute(delete(ScoreOverride).where(ScoreOverride.session_id == session_id))
            if score is not None:
                db.add(ScoreOverride(session_id=session_id, score=score, reason=(reason or "").strip() or None))

    # -- dashboard -------------------------------------------------------------------------------------------

    def heatmap(self, rep: str | None = None, kb: str = DEFAULT) -> Heatmap:
        """Count rubric verdicts per rep and standard over ended sessions, trainer overrides applied."""
        with self.database.session() as db:
            overrides = {(v.session_id, v.standard, v.original): v.verdict
                         for v in db.scalars(select(VerdictOverride))}
        cells: dict[tuple[str, str], Cell] = defaultdict(Cell)
        reps: set[str] = set()
        standards: set[str] = set()
        for row in self.roleplay.sessions(rep, limit=MAX_SESSIONS, kb=kb):
            if row["status"] != "ended" or not row["rep"]:
                continue
            card = self.roleplay.get(row["session_id"], kb=kb)["scorecard"] or {}
            reps.add(row["rep"])
            for item in card.get("rubric", []):
                verdict = overrides.get((row["session_id"], item["id"], item["verdict"]), item["verdict"])
                standards.add(item["id"])
                cell = cells[(row["rep"], item["id"])]
                setattr(cell, verdict, getattr(cell, verdict) + 1)
        return Heatmap(sorted(reps), sorted(standards, key=_standard_order), dict(cells))

    def rep_scenarios(self, rep: str | None = None, kb: str = DEFAULT) -> list[dict[str, Any]]:
        """Return sessions and average (override-aware) score per rep and scenario."""
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for row in self.sessions(rep, kb=kb):
            groups[(row["rep"] or "-", row["scenario"])].append(row)
        out = []
        for (who, scenario), rows in sorted(groups.items()):
            scores = [r["score"] for r in rows if r["score"] is not None]
            out.append({"rep": who, "scenario": scenario, "sessions": len(rows), "ended": len(scores),
                        "average": round(sum(scores) / len(scores), 1) if scores else None,
                        "best": max(scores) if scores else None})
        return out

    def attempts(self, rep: str, kb: str = DEFAULT) -> list[dict[str, Any]]:
        """Return a rep's first, best and latest ended attempt per scenario of knowledge base `kb`."""
        by_scenario: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in self.sessions(rep, kb=kb):
            by_scenario[row["scenario"]].append(row)
        out = []
        for scenario, rows in sorted(by_scenario.items()):
            ended = sorted((r for r in rows if r["score"] is not None), key=lambda r: r["created_at"])
            out.append({"scenario": scenario, "sessions": len(rows), "ended": len(ended),
                        "first": ended[0] if ended else None, "latest": ended[-1] if ended else None,
                        "best": max(ended, key=lambda r: r["score"]) if ended else None,
                        "active": [r for r in rows if r["status"] == "active"]})
        return out

    # -- assignments -----------------------------------------------------------------------------------------

    def assign(self, scenario: str, reps: list[str], due: date, min_score: int, kb: str = DEFAULT) -> int:
        """Assign one of base `kb`'s scenarios to reps (re-assigning updates the due date and minimum)."""
        if not self.roleplay.has_scenario(scenario, kb):
            raise NotFoundError(f"Scenario {scenario!r} not found; pick one from the scenario list")
        names = sorted({r.strip() for r in reps if r.strip()})
        if not names:
            raise BadRequestError("name at least one rep to assign the scenario to")
        if not 0 <= min_score <= 100:
            raise BadRequestError("the minimum score must be between 0 and 100")
        with self.database.session() as db:
            for name in names:
                row = db.scalar(select(Assignment).where(Assignment.scenario == scenario, Assignment.rep == name))
                if row is None:
                    db.add(Assignment(scenario=scenario, rep=name, due=due, min_score=min_score, kb=kb))
                else:
                    row.due, row.min_score, row.kb = due, min_score, kb
        return len(names)

    def remove_assignment(self, assignment_id: int, kb: str = DEFAULT) -> None:
        """Delete an assignment of base `kb`."""
        with self.database.session() as db:
            row = db.get(Assignment, assignment_id)
            if row is None or row.kb != kb:
                raise NotFoundError(f"Assignment {assignment_id} not found; see the dashboard for the current ones")
            db.delete(row)

    def assignments(
        self, rep: str | None = None, today: date | None = None, kb: str = DEFAULT
    ) -> list[dict[str, Any]]:
        """Return base `kb`'s assignments with their status from the rep's sessions since it was made."""
        today = today or datetime.now(UTC).date()
        query = (select(Assignment).where(Assignment.kb == kb)
                 .order_by(Assignment.due, Assignment.rep, Assignment.scenario))
        if rep is not None:
            query = query.where(Assignment.rep == rep)
        with self.database.session() as db:
            rows = list(db.scalars(query))
            db.expunge_all()
        sessions_by_rep: dict[str, list[dict[str, Any]]] = {}
        out = []
        for a in rows:
            if a.rep not in sessions_by_rep:
                sessions_by_rep[a.rep] = self.sessions(a.rep, kb=kb)
            since = _naive(a.created_at)
            mine = [s for s in sessions_by_rep[a.rep]
                    if s["scenario"] == a.scenario and _naive(s["created_at"]) >= since]
            scores = [s["score"] for s in mine if s["status"] == "ended" and s["score"] is not None]
            best = max(scores) if scores else None
            status = assignment_status(best, a.min_score, any(s["status"] == "active" for s in mine), bool(scores),
                                       a.due, today)
            out.append({"id": a.id, "scenario": a.scenario, "rep": a.rep, "due": a.due, "min_score": a.min_score,
                        "best": best, "attempts": len(mine), "status": status})
        return out

    # -- knowledge gaps --------------------------------------------------------------------------------------

    def gaps(self, limit: int = 200, kb: str = DEFAULT) -> list[dict[str, Any]]:
        """Return knowledge base `kb`'s unanswered-questions report with each question's trainer decision (if any)."""
        with self.database.session() as db:
            decisions = {d.question_key: d for d in db.scalars(select(GapDecision))}
            db.expunge_all()
        rows = self.chat.unanswered(limit, kb=kb)
        for row in rows:
            decision = decisions.get(question_key(row["question"]))
            row["key"] = question_key(row["question"])
            row["decision"] = decision.action if decision else None
            row["linked_item"] = decision.item_id if decision else None
        return rows

    def link_gap(self, question: str, language: str, item_id: str, folder: Path | None = None) -> None:
        """Link a question to a standard: stored, and written as a search phrase the next ingest of the
        knowledge base in `folder` (default: knowledge/) reads."""
        question = " ".join(question.split())
        if not question:
            raise BadRequestError("the question is empty")
        self._decide(question, language, "linked", item_id)
        path = (folder or self.knowledge_dir) / LEARNED_PHRASES
        record = {"id": item_id, "lang": language, "phrase": question[:200],
                  "added_at": datetime.now(UTC).isoformat(timespec="seconds")}
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def mark_out_of_scope(self, question: str, language: str) -> None:
        """Record that a question is outside what the standards should cover."""
        self._decide(" ".join(question.split()), language, "out_of_scope", None)

    def _decide(self, question: str, language: str, action: str, item_id: str | None) -> None:
        key = question_key(question)
        with self.database.session() as db:
            row = db.get(GapDecision, key)
            if row is None:
                db.add(GapDecision(question_key=key, question=question, action=action, item_id=item_id,
                                   language=language))
            else:
                row.action, row.item_id = action, item_id

    # -- CSV -------------------------------------------------------------------------------------------------

    def sessions_csv(self, rep: str | None = None, kb: str = DEFAULT) -> str:
        """Export sessions (override-aware score beside the engine's) as formula-safe CSV."""
        header = ["session_id", "rep", "scenario", "lang", "difficulty", "status", "outcome", "score",
                  "engine_score", "turns", "created_at", "violated"]
        rows = [[r["session_id"], r["rep"] or "", r["scenario"], r["lang"], r["difficulty"], r["status"],
                 r["outcome"] or "", r["score"] if r["score"] is not None else "",
                 r["engine_score"] if r["engine_score"] is not None else "", r["turns"], r["created_at"],
                 " ".join(r["violated"])] for r in self.sessions(rep, kb=kb)]
        return _csv(header, rows)

    def heatmap_csv(self, kb: str = DEFAULT) -> str:
        """Export the heatmap, one row per rep and standard, as formula-safe CSV."""
        heat = self.heatmap(kb=kb)
        rows = []
        for rep in heat.reps:
            for standard in heat.standards:
                cell = heat.cell(rep, standard)
                if cell.total:
                    rows.append([rep, standard, cell.followed, cell.violated, cell.missed,
                                 f"{cell.rate('followed'):.2f}", f"{cell.rate('violated'):.2f}",
                                 f"{cell.rate('missed'):.2f}"])
        return _csv(["rep", "standard", "followed", "violated", "missed", "followed_rate", "violated_rate",
                     "missed_rate"], rows)


def assignment_status(best: int | None, min_score: int, active: bool, ended: bool, due: date, today: date) -> str:
    """Return an assignment's status: passed, past due, below minimum, in progress or not started."""
    if best is not None and best >= min_score:
        return "passed"
    if today > due:
        return "past_due"
    if ended:
        return "below_minimum"
    return "in_progress" if active else "not_started"


def _standard_order(standard: str) -> tuple[int, int, int, str]:
    parts = standard.split(".")
    if len(parts) == 3 and parts[0][1:].isdigit() and parts[2].isdigit():
        return int(parts[0][1:]), {"intro": 0, "standard": 1, "caution": 2}.get(parts[1], 3), int(parts[2]), ""
    return 99, 0, 0, standard

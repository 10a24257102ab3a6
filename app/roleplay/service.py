"""RoleplayService: the one interface the HTTP API, the CLI and Slack use. Sync, DB-backed, stateless."""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import utcnow
from app.errors import BadRequestError, ConflictError, NotFoundError
from app.knowledge.bases import DEFAULT, read_standards_map
from app.roleplay import engine
from app.roleplay.catalog import ScenarioCatalog
from app.roleplay.scenarios import (
    COMMON_FILE,
    DIFFICULTIES,
    Scenario,
    ScenarioError,
    load_scenario,
    read_yaml,
)
from app.roleplay.scoring import StandardBook, scorecard, turn_feedback
from app.roleplay.stance import StanceReader
from app.roleplay.store import RoleplaySession, RoleplayTurn
from app.roleplay.techniques import COMMITMENT, Detector
from app.roleplay.voice import CustomerVoice

if TYPE_CHECKING:
    from app.container import Container

LANGS = ("zh", "en")
END_ATTEMPTS = 5
# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...), +cmd, @SUM, ...).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """Return a CSV cell that a spreadsheet shows as text, never runs: a leading formula sign gets a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _Stale(Exception):
    """The session changed (a turn, or the end) between reading it and writing the next state."""


class RoleplayService:
    """Start sessions, play turns, score them; every call reads and writes the database."""

    def __init__(self, container: Container, chat_model: Any = None) -> None:
        settings = container.settings
        self.container = container
        self.database = container.database
        self.catalog = ScenarioCatalog(settings.knowledge_dir / "scenarios")
        # Other knowledge bases' scenarios and standards, per base: (index build, scenarios, book).
        self._rooms: dict[str, tuple[str, dict[str, Scenario], StandardBook]] = {}
        self.detector = Detector(container.embedder)
        self.book = StandardBook(container.index, settings.knowledge_dir)
        if chat_model is None and settings.llm != "none":
            from app.coaching.providers import make_chat_client

            # The same streaming client as chat: one budget per turn, and the model server is hung up on when it
            # is spent (a LangChain call in a worker thread kept generating after the customer fell back).
            chat_model = make_chat_client(settings)
        stance = StanceReader(container.embedder) if chat_model is not None else None
        self.voice = CustomerVoice(chat_model, settings.prompts_dir, settings.llm_timeout_s, settings.llm_budget_s,
                                   stance)

    # -- scenarios -------------------------------------------------------------------------------------------

    @property
    def scenarios(self) -> dict[str, Scenario]:
        """Return the scenarios as they are on disk now (a file saved by another process included)."""
        return self.catalog.current()

    def _room(self, kb: str) -> tuple[dict[str, Scenario], StandardBook]:
        """Return a knowledge base's scenarios and the book its feedback cites (reloaded with a new index build)."""
        if kb == DEFAULT:
            return self.scenarios, self.book
        base = self.container.bases.get(kb)
        index = self.container.require_index(kb)
        cached = self._rooms.get(kb)
        if cached is None or cached[0] != index.build:
            scenarios = _base_scenarios(base.scenarios_dir, self.container.settings.knowledge_dir / "scenarios",
                                        {c.id for c in index.chunks})
            cached = self._rooms[kb] = (index.build, scenarios, StandardBook(index, ids=read_standards_map(base.folder)
                                                                             or {}))
        return cached[1], cached[2]

    def list_scenarios(self, kb: str = DEFAULT) -> list[dict[str, Any]]:
        """Return every scenario's id, titles, stage, difficulty and persona summary."""
        return [s.summary() for s in self._room(kb)[0].values()]

    def has_scenario(self, scenario_id: str, kb: str = DEFAULT) -> bool:
        """Return whether knowledge base `kb` has this scenario."""
        return scenario_id in self._room(kb)[0]

    def _scenario(self, scenario_id: str, kb: str = DEFAULT) -> Scenario:
        scenario = self._room(kb)[0].get(scenario_id)
        if scenario is None:
            raise NotFoundError(f"Scenario {scenario_id!r} not found; see GET /v1/roleplay/scenarios")
        return scenario

    # -- sessions --------------------------------------------------------------------------------------------

    def start(
        self, scenario: str, lang: str, difficulty: str | None = None, rep: str | None = None, kb: str = DEFAULT,
        session_id: str | None = None,
    ) -> dict[str, Any]:
        """Open a session on one of knowledge base `kb`'s scenarios and return the customer's opening line
        (session_id: 32 hex digits chosen by the caller, e.g. derived from a Slack delivery, instead of a new one)."""
        spec = self._scenario(scenario, kb)
        if lang not in LANGS:
            raise BadRequestError(f"lang must be 'zh' or 'en', not {lang!r}")
        level = difficulty or spec.difficulty
        if level not in DIFFICULTIES:
            raise BadRequestError(f"difficulty must be one of {', '.join(DIFFICULTIES)}, not {level!r}")
        session_id = session_id or uuid.uuid4().hex
        state = engine.initial_state(spec, level)
        opening = engine.opening_line(spec, state, lang, variant=int(session_id[:8], 16))
        with self.database.session() as db:
            db.add(RoleplaySession(id=session_id, scenario=spec.id, lang=lang, difficulty=level,
                                   rep=(rep or None), opening=opening, state=state, kb=kb))
        return {"session_id": session_id, "customer": opening, "scenario": spec.summary(),
                "state": engine.public_state(spec, state)}

    def _load(self, session_id: str, kb: str = DEFAULT) -> tuple[RoleplaySession, list[RoleplayTurn]]:
        with self.database.session() as db:
            row = db.get(RoleplaySession, session_id)
            if row is None or row.kb != kb:  # another base's session is not there for this caller
                raise NotFoundError(
                    f"Session {session_id!r} not found; start one with POST /v1/roleplay/sessions"
                )
            turns = list(db.scalars(select(RoleplayTurn).where(RoleplayTurn.session_id == session_id)
                                    .order_by(RoleplayTurn.n)))
            db.expunge_all()
        return row, turns

    def turn(self, session_id: str, message: str, kb: str = DEFAULT, report: dict[str, Any] | None = None
             ) -> dict[str, Any]:
        """Play one rep message: detect techniques, update the state, reply as the customer, give feedback.

        `report`, when given, receives what the LLM voice did this turn (see CustomerVoice.speak).
        """
        row, turns = self._load(session_id, kb)
        if row.status == "ended":
            raise ConflictError(self._ended(session_id))
        spec = self._scenario(row.scenario, kb)
        book = self._room(kb)[1]
        if [o["id"] for o in row.state["objections"]] != [o.id for o in spec.objections]:
            # A trainer changed the scenario's objections since this session started; its state no longer fits.
            raise ConflictError(
                f"Scenario {spec.id!r} was edited since session {session_id!r} started and its objections changed; "
                "end this session and start a new one"
            )
        message = message.strip()
        analysis = self.detector.analyse(message)
        detections = analysis.detections
        if not row.state.get("signal"):
            detections = [d for d in detections if d.technique != "close" or COMMITMENT.search(d.evidence)]
        state, result = engine.step(spec, row.state, {d.technique for d in detections}, kind=analysis.kind,
                                    facts=[f.slot for f in analysis.facts if not f.alternative],
                                    also=[f.slot for f in analysis.facts if f.alternative],
                                    substantive=analysis.substantive, meeting=analysis.meeting)
        scripted = engine.customer_line(spec, state, result, row.lang)
        history = [("customer", row.opening)]
        for t in turns:
            history += [("rep", t.rep), ("customer", t.customer)]
        given = [slot for slot, status in result.facts if status in ("answered", "again")]
        customer, voice = self.voice.speak(spec, row.lang, state, result.situations, scripted, history, message,
                                           facts=given, report=report)
        feedback = turn_feedback(detections, result.signal_before, result.events, message, row.lang, book, spec)
        done = state["outcome"] is not None
        n = len(turns) + 1
        ended: dict[str, Any] = {}
        if done:
            past = [{"n": t.n, "rep": t.rep, "feedback": t.feedback} for t in turns]
            card = scorecard(spec, state, [*past, {"n": n, "rep": message, "feedback": feedback}], row.lang, book)
            ended = {"status": "ended", "outcome": state["outcome"], "scorecard": card, "score": card["score"]}
        try:
            with self.database.session() as db:
                if not self._advance(db, row, state=state, **ended):
                    raise _Stale
                db.add(RoleplayTurn(session_id=session_id, n=n, rep=message, customer=customer, voice=voice,
                                    feedback=feedback, state=state))
        except (_Stale, IntegrityError) as exc:
            if self._load(session_id, kb)[0].status == "ended":
                raise ConflictError(self._ended(session_id)) from exc
            raise ConflictError(
                f"Another turn on session {session_id!r} was saved at the same time; resend your message"
            ) from exc
        return {"customer": customer, "feedback": feedback, "state": engine.public_state(spec, state), "done": done}

    def end(self, session_id: str, kb: str = DEFAULT) -> dict[str, Any]:
        """End the session (if still active) and return its scorecard, which covers every turn saved before it."""
        for _ in range(END_ATTEMPTS):
            row, turns = self._load(session_id, kb)
            if row.status == "ended" and row.scorecard is not None:
                return row.scorecard
            spec = self._scenario(row.scenario, kb)
            past = [{"n": t.n, "rep": t.rep, "feedback": t.feedback} for t in turns]
            card = scorecard(spec, row.state, past, row.lang, self._room(kb)[1])
            with self.database.session() as db:
                if self._advance(db, row, status="ended", outcome=row.state["outcome"], scorecard=card,
                                 score=card["score"]):
                    return card
            # A turn was saved since we read the session: score again with it.
        raise ConflictError(f"Session {session_id!r} is busy with turns; end it again in a moment")

    @staticmethod
    def _advance(db: Session, row: RoleplaySession, **values: Any) -> bool:
        """Write `values` only if the session is still active at the version read; return whether it was."""
        result = db.execute(
            update(RoleplaySession)
            .where(RoleplaySession.id == row.id, RoleplaySession.status == "active",
                   RoleplaySession.version == row.version)
            .values(version=row.version + 1, updated_at=utcnow(), **values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    @staticmethod
    def _ended(session_id: str) -> str:
        return (
            f"Session {session_id!r} has ended; read its scorecard with GET /v1/roleplay/sessions/{session_id} "
            "or start a new one with POST /v1/roleplay/sessions"
        )

    def get(self, session_id: str, kb: str = DEFAULT) -> dict[str, Any]:
        """Return the session: transcript with per-turn feedback, state and scorecard (once ended)."""
        row, turns = self._load(session_id, kb)
        spec = self._room(kb)[0].get(row.scenario)
        transcript: list[dict[str, Any]] = [{"role": "customer", "text": row.opening, "turn": 0}]
        for t in turns:
            transcript.append({"role": "rep", "text": t.rep, "turn": t.n, "feedback": t.feedback})
            transcript.append({"role": "customer", "text": t.customer, "turn": t.n, "voice": t.voice})
        return {
            "session_id": row.id, "scenario": spec.summary() if spec else {"id": row.scenario},
            "lang": row.lang, "difficulty": row.difficulty, "rep": row.rep, "status": row.status,
            "state": engine.public_state(spec, row.state) if spec else row.state, "transcript": transcript,
            "scorecard": row.scorecard, "created_at": row.created_at.isoformat(),
        }

    # -- trainer views ---------------------------------------------------------------------------------------

    def sessions(
        self, rep: str | None = None, scenario: str | None = None, limit: int = 200, kb: str = DEFAULT
    ) -> list[dict[str, Any]]:
        """Return knowledge base `kb`'s sessions newest first, optionally for one rep and/or scenario."""
        query = (select(RoleplaySession).where(RoleplaySession.kb == kb)
                 .order_by(RoleplaySession.created_at.desc()).limit(limit))
        if rep:
            query = query.where(RoleplaySession.rep == rep)
        if scenario:
            query = query.where(RoleplaySession.scenario == scenario)
        with self.database.session() as db:
            rows = list(db.scalars(query))
            return [{
                "session_id": r.id, "rep": r.rep, "scenario": r.scenario, "lang": r.lang,
                "difficulty": r.difficulty, "status": r.status, "outcome": r.outcome, "score": r.score,
                "turns": r.state["turn"], "created_at": r.created_at.isoformat(),
                "violated": sorted({row["id"] for row in (r.scorecard or {}).get("rubric", [])
                                    if row["verdict"] == "violated"}),
            } for r in rows]

    def sessions_csv(self, rep: str | None = None, scenario: str | None = None, kb: str = DEFAULT) -> str:
        """Return the session list as CSV."""
        out = io.StringIO()
        fields = ["session_id", "rep", "scenario", "lang", "difficulty", "status", "outcome", "score", "turns",
                  "created_at", "violated"]
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        for row in self.sessions(rep, scenario, limit=10_000, kb=kb):
            writer.writerow({k: _cell(v) for k, v in {**row, "violated": " ".join(row["violated"])}.items()})
        return out.getvalue()

    def rep_summary(self, rep: str, kb: str = DEFAULT) -> dict[str, Any]:
        """Return a rep's session count, average score and the standards they violate most often, in base `kb`."""
        mine = (RoleplaySession.rep == rep, RoleplaySession.kb == kb)
        with self.database.session() as db:
            session_ids = list(db.scalars(select(RoleplaySession.id).where(*mine)))
            scores = [s for s in db.scalars(select(RoleplaySession.score).where(*mine)) if s is not None]
            feedback = list(db.scalars(select(RoleplayTurn.feedback)
                                       .where(RoleplayTurn.session_id.in_(session_ids))))
        if not session_ids:
            raise NotFoundError(f"No sessions for rep {rep!r}; see GET /v1/trainer/sessions for the reps on record")
        violated: Counter[str] = Counter()
        followed: Counter[str] = Counter()
        titles: dict[str, str] = {}
        for items in feedback:
            for item in items:
                titles[item["id"]] = item["title"]
                (violated if item["verdict"] == "violated" else followed)[item["id"]] += 1
        return {
            "rep": rep, "sessions": len(session_ids), "scored": len(scores),
            "average_score": round(sum(scores) / len(scores), 1) if scores else None,
            "most_violated": [{"id": i, "title": titles[i], "count": c} for i, c in violated.most_common(5)],
            "most_followed": [{"id": i, "title": titles[i], "count": c} for i, c in followed.most_common(5)],
        }

    def close(self) -> None:
        """Release the voice's worker threads."""
        self.voice.close()


def _base_scenarios(folder: Path, default_folder: Path, items: set[str]) -> dict[str, Scenario]:
    """Load another knowledge base's scenarios (none without a folder); each may train only that base's items."""
    if not folder.is_dir():
        return {}
    common_path = folder / COMMON_FILE if (folder / COMMON_FILE).exists() else default_folder / COMMON_FILE
    common = read_yaml(common_path) if common_path.exists() else {}
    scenarios = {}
    for path in sorted(folder.glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        scenario = load_scenario(path, common)
        foreign = sorted(set(scenario.trains) - items)
        if foreign:
            raise ScenarioError(f"scenario file {path}: field 'trains' names {foreign}, not items of this base")
        scenarios[scenario.id] = scenario
    return scenarios

"""A turn and the end of a session racing: the scorecard covers every turn saved, and no turn lands after it."""

from __future__ import annotations

import json
import threading
from typing import Any

from sqlalchemy import text

import app.roleplay.service as service_module
from app.container import build_container
from app.errors import ConflictError
from app.roleplay.store import RoleplaySession
from tests.roleplay.conftest import roleplay_settings


def test_a_turn_saved_while_the_end_is_scoring_is_in_the_scorecard(service, monkeypatch):
    sid = service.start("price-objection", "en")["session_id"]
    service.turn(sid, "Hello there.")
    scoring, turn_saved = threading.Event(), threading.Event()
    real = service_module.scorecard

    def slow_scorecard(*args: Any, **kwargs: Any) -> dict[str, Any]:
        if threading.current_thread().name == "ender" and not turn_saved.is_set():
            scoring.set()
            turn_saved.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(service_module, "scorecard", slow_scorecard)
    result: dict[str, Any] = {}
    ender = threading.Thread(target=lambda: result.update(card=service.end(sid)), name="ender")
    ender.start()
    assert scoring.wait(10)
    service.turn(sid, "OK, 10% off.")  # lands between the end reading the session and writing the scorecard
    turn_saved.set()
    ender.join(10)

    stored = service.get(sid)
    assert stored["status"] == "ended" and stored["scorecard"] == result["card"]
    assert len([t for t in stored["transcript"] if t["role"] == "rep"]) == 2
    assert "10% off" in json.dumps(result["card"])


def test_a_turn_computed_before_the_end_but_saved_after_it_is_refused(service, monkeypatch):
    sid = service.start("price-objection", "en")["session_id"]
    detecting, ended = threading.Event(), threading.Event()
    real = service.detector.analyse

    def slow_analyse(message: str) -> Any:
        detecting.set()
        ended.wait(10)
        return real(message)

    monkeypatch.setattr(service.detector, "analyse", slow_analyse)
    outcome: dict[str, Any] = {}

    def late_turn() -> None:
        try:
            service.turn(sid, "OK, 10% off.")
        except ConflictError as exc:
            outcome["error"] = exc.message

    player = threading.Thread(target=late_turn)
    player.start()
    assert detecting.wait(10)
    card = service.end(sid)
    ended.set()
    player.join(10)

    assert outcome["error"] == (
        f"Session {sid!r} has ended; read its scorecard with GET /v1/roleplay/sessions/{sid} "
        "or start a new one with POST /v1/roleplay/sessions"
    )
    stored = service.get(sid)
    assert stored["scorecard"] == card and [t for t in stored["transcript"] if t["role"] == "rep"] == []


def test_an_older_database_gets_the_version_column(tmp_path):
    settings = roleplay_settings(tmp_path / "data")
    built = build_container(settings)
    sid = built.roleplay.start("price-objection", "en")["session_id"]
    with built.database.engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))  # a database from before migrations
        conn.execute(text("ALTER TABLE roleplay_sessions DROP COLUMN version"))
    built.close()
    reopened = build_container(settings)
    try:
        with reopened.database.session() as db:
            row = db.get(RoleplaySession, sid)
            assert row is not None and row.version == 0
        assert reopened.roleplay.turn(sid, "I understand.")["customer"]
    finally:
        reopened.close()

"""Trainer routes: bearer token required, session list, CSV export, per-rep summary; config refuses no tokens."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.config import Settings
from app.main import create_app
from tests.roleplay.conftest import roleplay_settings

TOKEN = "trainer-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def trainer_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = roleplay_settings(tmp_path / "data", trainer_routes=True, trainer_tokens=f" other , {TOKEN} ")
    with TestClient(create_app(settings)) as client:
        moves = (("amy", "OK, 10% off."), ("amy", "You are wrong, that is not true."), ("bo", "I understand."))
        for rep, message in moves:
            sid = client.post("/v1/roleplay/sessions",
                              json={"scenario": "price-objection", "lang": "en", "rep": rep}).json()["session_id"]
            client.post(f"/v1/roleplay/sessions/{sid}/turns", json={"message": message})
            client.post(f"/v1/roleplay/sessions/{sid}/end")
        yield client


@pytest.mark.parametrize("path", ["/v1/trainer/sessions", "/v1/trainer/sessions.csv", "/v1/trainer/reps/amy/summary",
                                  "/v1/reports/unanswered"])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}])
def test_trainer_routes_need_a_valid_bearer_token(trainer_client, path, headers):
    response = trainer_client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "COACH_TRAINER_TOKENS" in response.json()["detail"]


def test_sessions_filtered_by_rep_and_scenario(trainer_client):
    everyone = trainer_client.get("/v1/trainer/sessions", headers=AUTH).json()["sessions"]
    assert len(everyone) == 3
    amy = trainer_client.get("/v1/trainer/sessions?rep=amy&scenario=price-objection", headers=AUTH).json()
    assert {s["rep"] for s in amy["sessions"]} == {"amy"} and len(amy["sessions"]) == 2
    none = trainer_client.get("/v1/trainer/sessions?scenario=no-budget", headers=AUTH).json()
    assert none["sessions"] == []


def test_csv_export(trainer_client):
    response = trainer_client.get("/v1/trainer/sessions.csv?rep=amy", headers=AUTH)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    lines = response.text.strip().splitlines()
    assert lines[0].startswith("session_id,rep,scenario,lang,difficulty,status,outcome,score")
    assert len(lines) == 3 and all(",amy,price-objection,en," in line for line in lines[1:])


def test_rep_summary_lists_most_violated_standards(trainer_client):
    summary = trainer_client.get("/v1/trainer/reps/amy/summary", headers=AUTH).json()
    assert summary["sessions"] == 2
    assert {v["id"] for v in summary["most_violated"]} == {"s4.caution.1", "s4.caution.3"}
    missing = trainer_client.get("/v1/trainer/reps/zed/summary", headers=AUTH)
    assert missing.status_code == 404


def test_trainer_routes_are_absent_when_disabled(tmp_path):
    with TestClient(create_app(roleplay_settings(tmp_path / "data"))) as client:
        assert client.get("/v1/trainer/sessions", headers=AUTH).status_code == 404
        assert client.get("/v1/reports/unanswered", headers=AUTH).status_code == 404


def test_unanswered_report_needs_the_trainer_token(trainer_client):
    response = trainer_client.get("/v1/reports/unanswered")
    assert response.status_code == 401
    assert response.json()["detail"] == (
        "trainer routes need 'Authorization: Bearer <token>' with a COACH_TRAINER_TOKENS token"
    )
    assert trainer_client.get("/v1/reports/unanswered", headers=AUTH).json() == {"questions": []}


@pytest.mark.parametrize("rep", ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "-2+3", "@SUM(A1)"])
def test_csv_cells_that_would_run_as_formulas_are_quoted(trainer_client, rep):
    trainer_client.post("/v1/roleplay/sessions", json={"scenario": "price-objection", "lang": "en", "rep": rep})
    response = trainer_client.get("/v1/trainer/sessions.csv", params={"rep": rep}, headers=AUTH)
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["rep"] for row in rows] == ["'" + rep]


@pytest.mark.parametrize("tokens", ["", "  ", " , "])
def test_service_refuses_to_start_with_trainer_routes_and_no_tokens(tmp_path, tokens):
    with pytest.raises(ValidationError, match="COACH_TRAINER_TOKENS is empty while trainer routes are enabled"):
        Settings(data_dir=tmp_path, trainer_routes=True, trainer_tokens=tokens)


def test_refusal_applies_to_environment_configuration(monkeypatch, tmp_path):
    monkeypatch.setenv("COACH_TRAINER_ROUTES", "true")
    monkeypatch.setenv("COACH_TRAINER_TOKENS", "")
    with pytest.raises(ValidationError, match="COACH_TRAINER_TOKENS is empty"):
        Settings()
    monkeypatch.setenv("COACH_TRAINER_TOKENS", "a,b")
    assert Settings().trainer_token_list == ["a", "b"]

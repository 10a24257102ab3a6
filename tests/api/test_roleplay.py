"""HTTP: /v1/roleplay scenarios, sessions, turns, end, get; validation, 404/409, resume after restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.limits import MAX_MESSAGE_CHARS
from app.main import create_app
from tests.roleplay.conftest import roleplay_settings


@pytest.fixture
def rp_client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(roleplay_settings(tmp_path / "data"))) as client:
        yield client


def _start(client: TestClient, **body: object) -> dict:
    response = client.post("/v1/roleplay/sessions", json={"scenario": "price-objection", "lang": "en", **body})
    assert response.status_code == 201, response.text
    return response.json()


def test_list_scenarios(rp_client):
    response = rp_client.get("/v1/roleplay/scenarios")
    assert response.status_code == 200
    ids = {s["id"] for s in response.json()["scenarios"]}
    assert {"price-objection", "think-about-it", "delivery-complaint"} <= ids


def test_full_session_over_http(rp_client):
    started = _start(rp_client, rep="amy", difficulty="easy")
    assert set(started) == {"session_id", "customer", "scenario", "state"}
    assert started["state"]["difficulty"] == "easy"
    sid = started["session_id"]
    turn = rp_client.post(f"/v1/roleplay/sessions/{sid}/turns",
                          json={"message": "I understand. What's behind the comparison with X?"})
    assert turn.status_code == 200
    body = turn.json()
    assert set(body) == {"customer", "feedback", "state", "done"}
    assert {f["id"] for f in body["feedback"]} >= {"s4.standard.2", "s4.caution.2"}
    assert all(set(f) == {"id", "title", "verdict", "note", "evidence"} for f in body["feedback"])
    card = rp_client.post(f"/v1/roleplay/sessions/{sid}/end")
    assert card.status_code == 200
    assert {"score", "rubric", "strengths", "improvements", "summary"} <= set(card.json())
    session = rp_client.get(f"/v1/roleplay/sessions/{sid}").json()
    assert session["status"] == "ended" and session["scorecard"] == card.json()
    assert session["transcript"][1]["feedback"][0]["id"] == "s4.standard.2"


def test_unknown_scenario_is_404_with_a_hint(rp_client):
    response = rp_client.post("/v1/roleplay/sessions", json={"scenario": "x", "lang": "en"})
    assert response.status_code == 404
    assert response.json() == {"detail": "Scenario 'x' not found; see GET /v1/roleplay/scenarios"}


@pytest.mark.parametrize("path", ["/v1/roleplay/sessions/nope/turns", "/v1/roleplay/sessions/nope/end"])
def test_unknown_session_is_404(rp_client, path):
    response = rp_client.post(path, json={"message": "hi"})
    assert response.status_code == 404
    assert response.json() == {"detail": "Session 'nope' not found; start one with POST /v1/roleplay/sessions"}
    assert rp_client.get("/v1/roleplay/sessions/nope").status_code == 404


def test_turn_on_an_ended_session_is_409(rp_client):
    sid = _start(rp_client)["session_id"]
    rp_client.post(f"/v1/roleplay/sessions/{sid}/end")
    response = rp_client.post(f"/v1/roleplay/sessions/{sid}/turns", json={"message": "hello?"})
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"Session '{sid}' has ended; read its scorecard with GET /v1/roleplay/sessions/{sid} "
        "or start a new one with POST /v1/roleplay/sessions"
    )


@pytest.mark.parametrize(
    "body", [{"message": ""}, {"message": "   "}, {"message": "x" * (MAX_MESSAGE_CHARS + 1)}, {}, {"message": 3}]
)
def test_bad_messages_are_422(rp_client, body):
    sid = _start(rp_client)["session_id"]
    assert rp_client.post(f"/v1/roleplay/sessions/{sid}/turns", json=body).status_code == 422


@pytest.mark.parametrize(
    "body", [{"scenario": "price-objection", "lang": "fr"}, {"scenario": "price-objection", "lang": "en",
                                                              "difficulty": "brutal"}, {"lang": "en"}]
)
def test_bad_start_requests_are_422(rp_client, body):
    assert rp_client.post("/v1/roleplay/sessions", json=body).status_code == 422


def test_oversized_body_is_413(rp_client):
    sid = _start(rp_client)["session_id"]
    response = rp_client.post(f"/v1/roleplay/sessions/{sid}/turns", json={"message": "x" * 70_000})
    assert response.status_code == 413


def test_session_resumes_after_an_app_restart(tmp_path):
    settings = roleplay_settings(tmp_path / "data")
    with TestClient(create_app(settings)) as client:
        sid = _start(client)["session_id"]
        client.post(f"/v1/roleplay/sessions/{sid}/turns", json={"message": "I hear you. What's really behind it?"})
    with TestClient(create_app(settings)) as client:
        message = "That pays back in about seven months through 400k lower scrap a year."
        response = client.post(f"/v1/roleplay/sessions/{sid}/turns", json={"message": message})
        assert response.status_code == 200
        assert response.json()["state"]["turn"] == 2
        assert response.json()["state"]["objections"]["revealed"] == ["price"]

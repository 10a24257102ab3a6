"""The HTTP API over each database: awkward text never reaches storage as a 500, races are settled there."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.errors import ConflictError
from app.main import create_app
from tests.roleplay.conftest import roleplay_settings

NUL_URL = "URLs must not contain NUL characters (%00); remove them"
NUL_TEXT = "text must not contain NUL characters (\\u0000); remove them"


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = roleplay_settings(tmp_path / "data", database_url=database_url, trainer_routes=True,
                                 trainer_tokens="tok")
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "detail"),
    [
        ("GET", "/v1/roleplay/sessions/abc%00def", {}, 400, NUL_URL),
        ("GET", "/v1/trainer/sessions?rep=a%00b", {"headers": {"Authorization": "Bearer tok"}}, 400, NUL_URL),
        ("GET", "/v1/trainer/reps/a%00b/summary", {"headers": {"Authorization": "Bearer tok"}}, 400, NUL_URL),
        ("POST", "/v1/roleplay/sessions", {"json": {"scenario": "price-objection", "lang": "en", "rep": "a\x00"}},
         422, [{"type": "json_invalid", "loc": ["body", "rep"], "msg": NUL_TEXT, "input": None}]),
        ("POST", "/v1/roleplay/sessions", {"json": {"scenario": "price\x00", "lang": "en"}},
         422, [{"type": "json_invalid", "loc": ["body", "scenario"], "msg": NUL_TEXT, "input": None}]),
    ],
)
def test_nul_never_reaches_the_database(api, method, path, kwargs, status, detail):
    response = api.request(method, path, **kwargs)
    assert response.status_code == status
    assert response.json()["detail"] == detail


def test_a_turn_racing_the_end_is_settled_in_the_database(api):
    # The service is called from two threads (TestClient itself is not made for concurrent requests).
    service = api.app.state.container.roleplay
    sid = service.start("price-objection", "en")["session_id"]
    service.detector.analyse("warm-up")  # load the models first, so the race is the point
    results: dict[str, Any] = {}
    barrier = threading.Barrier(2, timeout=30)

    def end() -> None:
        barrier.wait()
        results["end"] = service.end(sid)

    def turn() -> None:
        barrier.wait()
        try:
            results["turn"] = service.turn(sid, "OK, 10% off.")
        except ConflictError as exc:
            results["turn"] = exc

    threads = [threading.Thread(target=end), threading.Thread(target=turn)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    stored = api.get(f"/v1/roleplay/sessions/{sid}").json()
    played = [t for t in stored["transcript"] if t["role"] == "rep"]
    # Either the turn came first and is scored, or it came second and was refused: never saved but unscored.
    assert len(played) == (0 if isinstance(results["turn"], ConflictError) else 1)
    assert stored["scorecard"] == results["end"]
    assert ("10% off" in str(stored["scorecard"])) == bool(played)

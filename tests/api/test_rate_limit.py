"""The per-client HTTP rate limit: 429 with Retry-After, counted in the database so it holds across workers."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.main import create_app
from app.ratelimit import RateLimiter
from tests.roleplay.conftest import roleplay_settings

DETAIL = "too many requests: at most 3 a minute from one client; retry in {} seconds"


def test_requests_over_the_limit_get_429_with_retry_after(tmp_path):
    with TestClient(create_app(roleplay_settings(tmp_path / "data", rate_limit_per_minute=3))) as client:
        assert [client.get("/v1/roleplay/scenarios").status_code for _ in range(3)] == [200, 200, 200]
        limited = client.get("/v1/roleplay/scenarios")
        assert limited.status_code == 429
        wait = int(limited.headers["Retry-After"])
        assert 1 <= wait <= 60
        assert limited.json()["detail"] == DETAIL.format(wait)
        assert limited.headers["X-Content-Type-Options"] == "nosniff"
        assert client.get("/healthz").status_code == 200  # probes are never limited


def test_two_workers_on_one_database_share_the_count(tmp_path):
    settings = roleplay_settings(tmp_path / "data", rate_limit_per_minute=3)
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        statuses = [c.get("/v1/roleplay/scenarios").status_code for c in (one, two, one, two)]
    assert statuses == [200, 200, 200, 429]


def test_the_limit_is_off_by_default(tmp_path):
    with TestClient(create_app(roleplay_settings(tmp_path / "data"))) as client:
        assert {client.get("/v1/roleplay/scenarios").status_code for _ in range(30)} == {200}


def test_the_counter_is_per_key_and_per_minute(tmp_path):
    from app.db import Database

    now = [600.0]
    limiter = RateLimiter(Database(f"sqlite:///{tmp_path / 'c.db'}"), 2, clock=lambda: now[0])
    assert [limiter.hit("u"), limiter.hit("u")] == [0, 0]
    now[0] = 620.0
    assert limiter.hit("u") == 40
    assert limiter.hit("v") == 0
    now[0] = 660.0
    assert limiter.hit("u") == 0

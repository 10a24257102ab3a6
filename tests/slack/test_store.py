"""Slack bookkeeping: claims are unique (even between racing threads and across restarts) and threads persist."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from app.db import Database, utcnow
from app.slack.ratelimit import RateLimiter
from app.slack.store import SlackStore, ThreadInfo, thread_key


def test_a_claim_is_won_once_among_racers_and_survives_a_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'coach.db'}"
    database = Database(url)
    store = SlackStore(database)
    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(lambda _: store.claim("event:Ev1"), range(8)))
    assert wins.count(True) == 1
    database.close()

    reopened = SlackStore(Database(url))
    assert reopened.claim("event:Ev1") is False
    assert reopened.claim("event:Ev2") is True
    reopened.database.close()


def test_old_claims_are_pruned(tmp_path: Path) -> None:
    store = SlackStore(Database(f"sqlite:///{tmp_path / 'coach.db'}"))
    store.claim("event:old")
    assert store.prune(now=utcnow() + timedelta(hours=1)) == 0
    assert store.prune(now=utcnow() + timedelta(days=2)) == 1
    assert store.claim("event:old") is True


def test_threads_are_registered_once(tmp_path: Path) -> None:
    store = SlackStore(Database(f"sqlite:///{tmp_path / 'coach.db'}"))
    key = thread_key("T1", "C1", "1.000100")
    assert store.thread(key) is None
    first = store.add_thread(ThreadInfo(key, "roleplay", "U1", "sess1", "zh", "王磊"))
    assert store.add_thread(ThreadInfo(key, "chat", "U2")) == first
    assert store.thread(key) == ThreadInfo(key, "roleplay", "U1", "sess1", "zh", "王磊")


def test_rate_limiter_allows_n_per_sliding_minute() -> None:
    now = [0.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert [limiter.hit("u"), limiter.hit("u")] == [0, 0]
    now[0] = 20.0
    assert limiter.hit("u") == 40
    assert limiter.hit("v") == 0
    now[0] = 60.0
    assert limiter.hit("u") == 0

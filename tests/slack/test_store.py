"""Slack bookkeeping: claims are unique (even between racing threads and across restarts) and threads persist."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from app.db import Database, utcnow
from app.ratelimit import RateLimiter
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


def test_a_claim_not_completed_within_its_lease_can_be_retaken(tmp_path: Path) -> None:
    store = SlackStore(Database(f"sqlite:///{tmp_path / 'coach.db'}"))
    lease, now = timedelta(seconds=60), utcnow()
    assert store.claim("message:T:C:1", lease, now) is True
    assert store.claim("message:T:C:1", lease, now + timedelta(seconds=59)) is False  # still being answered
    assert store.claim("message:T:C:1", lease, now + timedelta(seconds=61)) is True  # its process died
    assert store.claim("message:T:C:1", lease, now + timedelta(seconds=62)) is False
    store.complete(["message:T:C:1"])
    assert store.claim("message:T:C:1", lease, now + timedelta(hours=2)) is False  # answered: never again


def test_a_lock_has_one_holder_until_released_or_expired(tmp_path: Path) -> None:
    store = SlackStore(Database(f"sqlite:///{tmp_path / 'coach.db'}"))
    lease, now = timedelta(seconds=120), utcnow()
    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(lambda i: store.lock("roleplay:s1", f"p{i}", lease, now), range(8)))
    assert wins.count(True) == 1
    winner = f"p{wins.index(True)}"
    assert store.lock("roleplay:s1", "other", lease, now + timedelta(seconds=10)) is False
    store.unlock("roleplay:s1", "other")  # not the holder: no effect
    assert store.lock("roleplay:s1", "other", lease, now + timedelta(seconds=10)) is False
    store.unlock("roleplay:s1", winner)
    assert store.lock("roleplay:s1", "other", lease, now + timedelta(seconds=10)) is True
    assert store.lock("roleplay:s1", "third", lease, now + timedelta(seconds=131)) is True  # expired


def test_the_rate_limit_is_shared_by_processes_on_one_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'coach.db'}"
    one, two = RateLimiter(Database(url), 3), RateLimiter(Database(url), 3)
    assert [one.hit("slack:T:U"), two.hit("slack:T:U"), one.hit("slack:T:U")] == [0, 0, 0]
    assert two.hit("slack:T:U") > 0

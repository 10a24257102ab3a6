"""The storage layer on SQLite and PostgreSQL: races settled in the database, upgrades, and awkward text."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import select, text

from app.coaching.store import ChatStore, Message
from app.db import Database, utcnow
from app.ratelimit import RateLimiter
from app.roleplay.store import RoleplaySession
from app.slack.store import SlackStore


def test_simultaneous_first_messages_get_one_conversation_and_distinct_seqs(database: Database) -> None:
    store, barrier = ChatStore(database), threading.Barrier(8)

    def record(i: int) -> str:
        barrier.wait()
        return store.record("conv_race", f"q{i}", f"a{i}", "en", "answered", [])

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(record, range(8)))
    assert len(set(ids)) == 8
    with database.session() as db:
        seqs = sorted(db.scalars(select(Message.seq).where(Message.conversation_id == "conv_race")))
    assert seqs == list(range(1, 17))
    assert [t.content for t in store.history("conv_race", limit=2)][1].startswith("a")


def test_unicode_text_round_trips(database: Database) -> None:
    store = ChatStore(database)
    question = "客户说太贵了 😅 — “quotes” ‘and’ <tags> & émojis"
    store.record("conv_text", question, "答", "zh", "not_covered", [{"id": "s4.caution.1", "title": "不轻易降价"}])
    assert store.history("conv_text")[0].content == question
    assert store.unanswered()[0]["question"] == question


def test_claims_are_won_once_and_leased(database: Database) -> None:
    store = SlackStore(database)
    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(lambda _: store.claim("event:Ev1"), range(8)))
    assert wins.count(True) == 1
    later = utcnow() + timedelta(minutes=5)
    assert store.claim("event:Ev1", timedelta(seconds=60), later) is True  # the lease ran out
    store.complete(["event:Ev1"])
    assert store.claim("event:Ev1", timedelta(seconds=60), later + timedelta(hours=1)) is False
    assert store.prune(now=utcnow() + timedelta(days=2)) == 1


def test_locks_have_one_holder(database: Database) -> None:
    store, now = SlackStore(database), utcnow()
    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(lambda i: store.lock("roleplay:s", f"h{i}", timedelta(seconds=30), now), range(8)))
    assert wins.count(True) == 1
    store.unlock("roleplay:s", f"h{wins.index(True)}")
    assert store.lock("roleplay:s", "next", timedelta(seconds=30), now) is True


def test_the_rate_limit_counts_exactly_under_concurrency(database: Database) -> None:
    limiter = RateLimiter(database, 5)
    with ThreadPoolExecutor(8) as pool:
        waits = list(pool.map(lambda _: limiter.hit("http:1.2.3.4"), range(12)))
    assert waits.count(0) == 5


def test_an_older_schema_gets_the_new_columns(database_url: str, database: Database) -> None:
    with database.engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))  # a database from before migrations
        conn.execute(text("ALTER TABLE roleplay_sessions DROP COLUMN version"))
        conn.execute(text("ALTER TABLE slack_claims DROP COLUMN done"))
        conn.execute(text("ALTER TABLE slack_claims DROP COLUMN lease_until"))
        conn.execute(text("INSERT INTO slack_claims (key, created_at) VALUES ('event:old', CURRENT_TIMESTAMP)"))
    reopened = Database(database.engine.url.render_as_string(hide_password=False))
    try:
        assert SlackStore(reopened).claim("event:old") is False  # a claim from before leases counts as done
        with reopened.session() as db:
            assert db.scalars(select(RoleplaySession)).all() == []
    finally:
        reopened.close()

"""The Slack inbox on SQLite and PostgreSQL: a claim keeps its work, and a sweeper takes an expired claim atomically."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import text

from app import migrations
from app.db import Database, utcnow
from app.slack.store import SlackStore

LEASE = timedelta(seconds=60)


def test_racing_sweepers_take_each_expired_claim_exactly_once(database: Database) -> None:
    store, then = SlackStore(database), utcnow() - timedelta(minutes=5)
    for i in range(6):
        assert store.take(f"message:T:C:{i}", LEASE, "dead", {"kind": "ask", "text": f"q{i}"}, now=then)
    with ThreadPoolExecutor(8) as pool:
        taken = list(pool.map(lambda n: store.take_expired(LEASE, f"sweeper{n}"), range(8)))
    keys = [claim.key for batch in taken for claim in batch]
    assert sorted(keys) == [f"message:T:C:{i}" for i in range(6)]  # every one once, none twice
    claim = next(c for batch in taken for c in batch if c.key == "message:T:C:3")
    assert claim.payload == {"kind": "ask", "text": "q3"} and claim.retaken and claim.attempts == 2
    assert store.take_expired(LEASE, "late") == []  # the winners' leases run now


def test_only_expired_unfinished_claims_with_work_are_swept(database: Database) -> None:
    store, now = SlackStore(database), utcnow()
    store.take("event:leased", LEASE, "alive", {"kind": "event"}, now=now)
    store.take("event:done", LEASE, "gone", {"kind": "event"}, now=now - timedelta(minutes=5))
    store.complete(["event:done"])
    store.claim("event:old-style", LEASE, now=now - timedelta(minutes=5))  # no payload: nothing to redo
    store.take("event:renewed", LEASE, "alive", {"kind": "event"}, now=now - timedelta(seconds=50))
    store.renew(["event:renewed"], "alive", LEASE, now=now)
    store.renew(["event:renewed"], "someone-else", timedelta(0), now=now)  # not theirs: no effect
    store.take("event:expired", LEASE, "dead", {"kind": "event"}, now=now - timedelta(seconds=61))
    later = now + timedelta(seconds=30)
    assert [c.key for c in store.take_expired(LEASE, "sweeper", now=later)] == ["event:expired"]
    with database.engine.connect() as conn:
        row = conn.execute(text("SELECT done, payload, holder FROM slack_claims WHERE key = 'event:done'")).one()
    assert bool(row.done) and row.payload is None  # finished work keeps no payload


def test_progress_noted_on_a_claim_reaches_the_attempt_that_takes_it_over(database: Database) -> None:
    store, then = SlackStore(database), utcnow() - timedelta(minutes=5)
    store.take("message:T:C:9", LEASE, "dead", {"kind": "turn", "text": "hi"}, now=then)
    store.note("message:T:C:9", "dead", {"kind": "turn", "text": "hi", "n": 3})
    store.note("message:T:C:9", "intruder", {"kind": "turn", "text": "no"})  # only the holder notes progress
    retaken = store.take("message:T:C:9", LEASE, "retry", {"kind": "turn", "text": "from the retry"})
    assert retaken is not None and retaken.payload == {"kind": "turn", "text": "hi", "n": 3} and retaken.retaken
    assert store.take("message:T:C:9", LEASE, "another", {}) is None


def test_claims_from_before_the_inbox_are_adopted(database: Database) -> None:
    url = database.engine.url.render_as_string(hide_password=False)
    with database.engine.begin() as conn:
        for column in ("payload", "holder", "attempts"):
            conn.execute(text(f"ALTER TABLE slack_claims DROP COLUMN {column}"))
        conn.execute(text("UPDATE alembic_version SET version_num = 'b1aad445f8c0'"))
        conn.execute(text("INSERT INTO slack_claims (key, created_at, lease_until, done) "
                          "VALUES ('event:before', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, false)"))
    reopened = Database(url)
    try:
        assert migrations.current(reopened.engine) == migrations.head()
        assert migrations.differences(reopened.engine) == []
        with reopened.engine.connect() as conn:
            row = conn.execute(text("SELECT payload, attempts FROM slack_claims WHERE key = 'event:before'")).one()
        assert row.payload is None and row.attempts == 0
        assert SlackStore(reopened).take_expired(LEASE, "sweeper", now=utcnow() + timedelta(hours=1)) == []
    finally:
        reopened.close()

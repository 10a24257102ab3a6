"""Slack bookkeeping in the database: claims on deliveries (leased until answered, with the work they stand for),
locks, thread ownership."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, DateTime, Integer, String, Text, delete, func, select, text, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Database, insert_ignore, utcnow

# Slack retries a delivery three times within about an hour; a day of claims is plenty.
CLAIM_TTL = timedelta(days=1)


class SlackClaim(Base):
    """A unit of Slack work taken: `event:<event_id>`, `message:<team>:<channel>:<ts>` or `command:<sha256>`.

    A claim is leased: until it is marked done, a claim whose lease ran out (its process died after the ack) can
    be taken again by a retry or by any process's sweeper. `payload` is what doing the work needs (the event or
    command, never a token), so the work survives the process that acknowledged it; it is cleared once done.
    Claims written before leases existed count as done.
    """

    __tablename__ = "slack_claims"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    done: Mapped[bool] = mapped_column(Boolean, default=False, server_default=true())
    payload: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON
    holder: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the process working on it
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class SlackLock(Base):
    """A lock held by one process for a while, e.g. on a role-play session while its turn is played."""

    __tablename__ = "slack_locks"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SlackThread(Base):
    """A Slack thread the coach takes part in: a chat conversation or a role-play session."""

    __tablename__ = "slack_threads"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)  # <team>:<channel>:<thread_ts>
    kind: Mapped[str] = mapped_column(String(8))  # chat | roleplay
    user: Mapped[str] = mapped_column(String(64))  # the asker, or the rep who practises
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lang: Mapped[str | None] = mapped_column(String(2), nullable=True)
    customer: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class Claim:
    """A claim this process took: the work to do, and whether an earlier attempt may have done part of it."""

    key: str
    payload: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    attempts: int = 1

    @property
    def retaken(self) -> bool:
        """Return whether another attempt had it before (then look for what that attempt already delivered)."""
        return self.attempts > 1


@dataclass(frozen=True)
class ThreadInfo:
    """What the handlers need to know about a thread."""

    key: str
    kind: str
    user: str
    session_id: str | None = None
    lang: str | None = None
    customer: str | None = None


def thread_key(team: str, channel: str, thread_ts: str) -> str:
    """Return the key (and conversation id suffix) of a Slack thread."""
    return f"{team}:{channel}:{thread_ts}"


class SlackStore:
    """Synchronous access to the Slack tables; call it from async code through asyncio.to_thread."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def claim(self, key: str, lease: timedelta = timedelta(seconds=60), now: datetime | None = None) -> bool:
        """Take `key` for `lease`; False when it is done or another holder's lease still runs (one racer wins)."""
        return self.take(key, lease, now=now) is not None

    def take(self, key: str, lease: timedelta, holder: str = "", payload: dict[str, Any] | None = None,
             now: datetime | None = None) -> Claim | None:
        """Take `key` for `lease` with the work it stands for; None when it is done or another lease still runs.

        A new claim stores `payload`; a claim retaken after its lease ran out keeps the payload it had (with any
        progress noted on it) and is returned as retaken.
        """
        now = now or utcnow()
        stored = json.dumps(payload, ensure_ascii=False) if payload is not None else None
        with self.database.session() as db:
            if insert_ignore(db, SlackClaim, key=key, created_at=now, lease_until=now + lease, done=False,
                             payload=stored, holder=holder or None, attempts=1):
                return Claim(key, payload or {}, now, 1)
            row = db.execute(
                update(SlackClaim)
                .where(SlackClaim.key == key, SlackClaim.done.is_(False), SlackClaim.lease_until < now)
                .values(lease_until=now + lease, holder=holder or None, attempts=SlackClaim.attempts + 1,
                        payload=func.coalesce(SlackClaim.payload, stored))
                .returning(SlackClaim.payload, SlackClaim.created_at, SlackClaim.attempts)
            ).first()
        if row is None:
            return None
        return Claim(key, json.loads(row.payload) if row.payload else payload or {}, _aware(row.created_at),
                     max(int(row.attempts), 2))

    def take_expired(self, lease: timedelta, holder: str, limit: int = 20, now: datetime | None = None
                     ) -> list[Claim]:
        """Take up to `limit` claims whose lease ran out before they were done (their process died).

        Each is taken by a conditional UPDATE on its lease, so among processes sweeping at once exactly one gets it.
        """
        now = now or utcnow()
        with self.database.session() as db:
            keys = list(db.scalars(
                select(SlackClaim.key)
                .where(SlackClaim.done.is_(False), SlackClaim.lease_until < now, SlackClaim.payload.is_not(None))
                .order_by(SlackClaim.created_at).limit(limit)
            ))
        taken = []
        for key in keys:
            with self.database.session() as db:
                row = db.execute(
                    update(SlackClaim)
                    .where(SlackClaim.key == key, SlackClaim.done.is_(False), SlackClaim.lease_until < now)
                    .values(lease_until=now + lease, holder=holder, attempts=SlackClaim.attempts + 1)
                    .returning(SlackClaim.payload, SlackClaim.created_at, SlackClaim.attempts)
                ).first()
            if row is not None and row.payload:
                taken.append(Claim(key, json.loads(row.payload), _aware(row.created_at), max(int(row.attempts), 2)))
        return taken

    def note(self, key: str, holder: str, payload: dict[str, Any]) -> None:
        """Record progress on a claim this holder has (e.g. the turn about to be played), for a later attempt."""
        with self.database.session() as db:
            db.execute(update(SlackClaim).where(SlackClaim.key == key, SlackClaim.holder == holder,
                                                SlackClaim.done.is_(False))
                       .values(payload=json.dumps(payload, ensure_ascii=False)))

    def renew(self, keys: Iterable[str], holder: str, lease: timedelta, now: datetime | None = None) -> None:
        """Extend the leases this holder still has: a live process keeps its claims while it works."""
        keys = list(keys)
        if keys:
            now = now or utcnow()
            with self.database.session() as db:
                db.execute(update(SlackClaim).where(SlackClaim.key.in_(keys), SlackClaim.holder == holder,
                                                    SlackClaim.done.is_(False)).values(lease_until=now + lease))

    def complete(self, keys: list[str]) -> None:
        """Mark claims done: the work is delivered and must never be redone (its payload is no longer kept)."""
        if keys:
            with self.database.session() as db:
                db.execute(update(SlackClaim).where(SlackClaim.key.in_(keys)).values(done=True, payload=None))

    def lock(self, key: str, holder: str, lease: timedelta, now: datetime | None = None) -> bool:
        """Take the lock `key` for `lease` unless another holder has it and its lease still runs."""
        now = now or utcnow()
        with self.database.session() as db:
            if insert_ignore(db, SlackLock, key=key, holder=holder, expires_at=now + lease):
                return True
            taken = db.execute(
                update(SlackLock).where(SlackLock.key == key, SlackLock.expires_at < now)
                .values(holder=holder, expires_at=now + lease)
            ).rowcount  # type: ignore[attr-defined]
        return bool(taken)

    def renew_lock(self, key: str, holder: str, lease: timedelta, now: datetime | None = None) -> None:
        """Extend a lock `holder` still has."""
        now = now or utcnow()
        with self.database.session() as db:
            db.execute(update(SlackLock).where(SlackLock.key == key, SlackLock.holder == holder)
                       .values(expires_at=now + lease))

    def unlock(self, key: str, holder: str) -> None:
        """Release the lock if `holder` still has it."""
        with self.database.session() as db:
            db.execute(delete(SlackLock).where(SlackLock.key == key, SlackLock.holder == holder))

    def prune(self, now: datetime | None = None) -> int:
        """Forget claims older than CLAIM_TTL and return how many were removed."""
        cutoff = (now or utcnow()) - CLAIM_TTL
        with self.database.session() as db:
            result = db.execute(delete(SlackClaim).where(SlackClaim.created_at < cutoff))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def thread(self, key: str) -> ThreadInfo | None:
        """Return the thread registered under `key`, if any."""
        with self.database.session() as db:
            row = db.get(SlackThread, key)
            if row is None:
                return None
            return ThreadInfo(row.key, row.kind, row.user, row.session_id, row.lang, row.customer)

    def add_thread(self, info: ThreadInfo) -> ThreadInfo:
        """Register a thread unless it is already known; return the registered one."""
        try:
            with self.database.session() as db:
                db.add(SlackThread(key=info.key, kind=info.kind, user=info.user, session_id=info.session_id,
                                   lang=info.lang, customer=info.customer))
        except IntegrityError:
            existing = self.thread(info.key)
            assert existing is not None
            return existing
        return info


def _aware(when: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone-aware columns; they were written in UTC.
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)

"""Slack bookkeeping in the database: claims on deliveries (leased until answered), locks, thread ownership."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Boolean, DateTime, String, delete, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Database, insert_ignore, utcnow

# Slack retries a delivery three times within about an hour; a day of claims is plenty.
CLAIM_TTL = timedelta(days=1)


class SlackClaim(Base):
    """A unit of Slack work taken: `event:<event_id>`, `message:<team>:<channel>:<ts>` or `command:<sha256>`.

    A claim is leased: until it is marked done, a claim whose lease ran out (its process died after the ack) can
    be taken again by a retry. Claims written before leases existed count as done.
    """

    __tablename__ = "slack_claims"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    done: Mapped[bool] = mapped_column(Boolean, default=False, server_default=true())


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
        now = now or utcnow()
        with self.database.session() as db:
            if insert_ignore(db, SlackClaim, key=key, created_at=now, lease_until=now + lease, done=False):
                return True
            retaken = db.execute(
                update(SlackClaim)
                .where(SlackClaim.key == key, SlackClaim.done.is_(False), SlackClaim.lease_until < now)
                .values(lease_until=now + lease)
            ).rowcount  # type: ignore[attr-defined]
        return bool(retaken)

    def complete(self, keys: list[str]) -> None:
        """Mark claims done: the work is delivered and must never be redone."""
        if keys:
            with self.database.session() as db:
                db.execute(update(SlackClaim).where(SlackClaim.key.in_(keys)).values(done=True))

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

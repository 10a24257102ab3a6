"""Slack bookkeeping: delivered-event claims (deduplication across retries and restarts) and thread ownership."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import DateTime, String, delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Database, utcnow

# Slack retries a delivery three times within about an hour; a day of claims is plenty.
CLAIM_TTL = timedelta(days=1)


class SlackClaim(Base):
    """A unit of Slack work already taken: `event:<event_id>` or `message:<team>:<channel>:<ts>`."""

    __tablename__ = "slack_claims"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


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

    def claim(self, key: str) -> bool:
        """Record `key` as taken; return False when it already was (the unique key decides between racers)."""
        try:
            with self.database.session() as db:
                db.add(SlackClaim(key=key))
        except IntegrityError:
            return False
        return True

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

"""Role-play tables: a session row (state, status, scorecard) and one row per exchange."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow
from app.knowledge.bases import DEFAULT


class RoleplaySession(Base):
    """One practice session; `state` is the engine's state after the latest turn."""

    __tablename__ = "roleplay_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    scenario: Mapped[str] = mapped_column(String(64), index=True)
    lang: Mapped[str] = mapped_column(String(2))
    difficulty: Mapped[str] = mapped_column(String(8))
    rep: Mapped[str | None] = mapped_column(String(128), index=True, nullable=True)
    # The knowledge base whose scenario and standards the session is played and scored against.
    kb: Mapped[str] = mapped_column(String(40), default=DEFAULT, server_default=text(f"'{DEFAULT}'"), index=True)
    status: Mapped[str] = mapped_column(String(8), default="active")  # active | ended
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    opening: Mapped[str] = mapped_column(Text)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    scorecard: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Bumped by every turn and by the end: each writes only if the version it read is still current, so a turn
    # and the end (or two turns) cannot both apply to the same state, whichever process runs them.
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class RoleplayTurn(Base):
    """One exchange: the rep's message, the customer's reply, the feedback and the state after it."""

    __tablename__ = "roleplay_turns"
    # Two concurrent turns on one session collide here instead of both applying.
    __table_args__ = (UniqueConstraint("session_id", "n", name="uq_roleplay_turn"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("roleplay_sessions.id", ondelete="CASCADE"), index=True)
    n: Mapped[int] = mapped_column(Integer)
    rep: Mapped[str] = mapped_column(Text)
    customer: Mapped[str] = mapped_column(Text)
    voice: Mapped[str] = mapped_column(String(8), default="script")  # script | llm
    feedback: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

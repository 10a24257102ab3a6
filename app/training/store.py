"""Trainer tables: comments on turns, verdict and score overrides, assignments, and decisions on knowledge gaps.

Overrides live beside the role-play tables, never in them: the engine's original verdict and score stay as
they were, and every view shows both.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow
from app.knowledge.bases import DEFAULT


class TurnComment(Base):
    """A trainer's comment on one turn of a practice session."""

    __tablename__ = "trainer_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("roleplay_sessions.id", ondelete="CASCADE"), index=True)
    turn: Mapped[int] = mapped_column(Integer)
    author: Mapped[str] = mapped_column(String(128), default="trainer")
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class VerdictOverride(Base):
    """A trainer's verdict on one scorecard rubric row (standard id and the engine's verdict)."""

    __tablename__ = "trainer_verdict_overrides"
    __table_args__ = (UniqueConstraint("session_id", "standard", "original", name="uq_verdict_override"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("roleplay_sessions.id", ondelete="CASCADE"), index=True)
    standard: Mapped[str] = mapped_column(String(64))
    original: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ScoreOverride(Base):
    """A trainer's score for a session, replacing the engine's in every trainer and rep view."""

    __tablename__ = "trainer_score_overrides"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("roleplay_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    score: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Assignment(Base):
    """A scenario a rep must pass (reach min_score) by a due date."""

    __tablename__ = "trainer_assignments"
    __table_args__ = (UniqueConstraint("scenario", "rep", name="uq_assignment"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scenario: Mapped[str] = mapped_column(String(64))
    rep: Mapped[str] = mapped_column(String(128), index=True)
    due: Mapped[date] = mapped_column(Date)
    min_score: Mapped[int] = mapped_column(Integer)
    # The knowledge base whose scenario this is (assignments from before there were several are `default`'s).
    kb: Mapped[str] = mapped_column(String(40), default=DEFAULT, server_default=text(f"'{DEFAULT}'"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GapDecision(Base):
    """What a trainer decided about an unanswered question: linked to a standard, or out of scope."""

    __tablename__ = "trainer_gap_decisions"

    question_key: Mapped[str] = mapped_column(String(512), primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(16))  # linked | out_of_scope
    item_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    language: Mapped[str] = mapped_column(String(5))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

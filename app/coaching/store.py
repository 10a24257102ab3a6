"""Conversations, messages and feedback, stored through SQLAlchemy (SQLite in the data dir by default)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Database, insert_ignore, utcnow
from app.errors import NotFoundError
from app.knowledge.bases import DEFAULT


class Conversation(Base):
    """A chat thread: an API conversation or a Slack thread."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), default="api")
    user: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The knowledge base the conversation is answered from; rows from before there were several are `default`.
    kb: Mapped[str] = mapped_column(String(40), default=DEFAULT, server_default=text(f"'{DEFAULT}'"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Message(Base):
    """One turn: the rep's question or the coach's answer."""

    __tablename__ = "messages"
    # seq is allocated under the conversation's row lock; this catches any writer that does not take it.
    __table_args__ = (UniqueConstraint("conversation_id", "seq", name="uq_message_seq"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(10))  # user | assistant
    content: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(5))
    status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    citations: Mapped[str] = mapped_column(Text, default="[]")
    question: Mapped[str | None] = mapped_column(Text, nullable=True)  # on answers: the question they answer
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Feedback(Base):
    """A rep's rating of an answer."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id"), index=True)
    rating: Mapped[str] = mapped_column(String(4))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class Turn:
    """A stored message, as the chat logic needs it."""

    role: str
    content: str
    language: str


class ChatStore:
    """Reads and writes conversations."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def history(self, conversation_id: str, limit: int = 6, kb: str = DEFAULT) -> list[Turn]:
        """Return the last `limit` messages of a conversation, oldest first (404 if it is another base's)."""
        with self._db.session() as s:
            _check_kb(s.get(Conversation, conversation_id), conversation_id, kb)
            rows = s.scalars(
                select(Message).where(Message.conversation_id == conversation_id).order_by(Message.seq.desc())
                .limit(limit)
            ).all()
            return [Turn(r.role, r.content, r.language) for r in reversed(rows)]

    def record(
        self, conversation_id: str, question: str, answer: str, language: str, status: str,
        citations: list[dict[str, Any]], channel: str = "api", user: str | None = None, kb: str = DEFAULT,
        answer_id: str | None = None,
    ) -> str:
        """Store a question and its answer; return the answer's message id (given: stored once, even if redone)."""
        given = answer_id is not None
        answer_id = answer_id or "msg_" + uuid.uuid4().hex[:20]
        with self._db.session() as s:
            # Two first messages on a new conversation may race: the insert is a no-op for the second one.
            insert_ignore(s, Conversation, id=conversation_id, channel=channel, user=user, kb=kb)
            # The same new id from two bases at once: the second writer does not join the first one's thread.
            _check_kb(s.get(Conversation, conversation_id), conversation_id, kb)
            # A write to the conversation row locks it (PostgreSQL: the row; SQLite: the database) until commit, so
            # concurrent answers allocate their seq one after the other.
            s.execute(update(Conversation).where(Conversation.id == conversation_id)
                      .values(channel=Conversation.channel))
            if given and s.get(Message, answer_id) is not None:
                return answer_id  # an earlier attempt stored this exchange
            seq = s.scalar(
                select(func.coalesce(func.max(Message.seq), 0)).where(Message.conversation_id == conversation_id)
            ) or 0
            s.add(Message(id="msg_" + uuid.uuid4().hex[:20], conversation_id=conversation_id, seq=seq + 1,
                          role="user", content=question, language=language))
            s.add(Message(id=answer_id, conversation_id=conversation_id, seq=seq + 2, role="assistant",
                          content=answer, language=language, status=status, question=question,
                          citations=json.dumps(citations, ensure_ascii=False)))
        return answer_id

    def conversations(
        self, user: str, channel: str | None = None, limit: int = 50, kb: str = DEFAULT
    ) -> list[dict[str, Any]]:
        """Return a user's conversations in one base, newest first, each with its first question and message count."""
        with self._db.session() as s:
            query = select(Conversation).where(Conversation.user == user, Conversation.kb == kb)
            if channel is not None:
                query = query.where(Conversation.channel == channel)
            rows = list(s.scalars(query.order_by(Conversation.created_at.desc()).limit(limit)))
            out = []
            for conv in rows:
                first = s.scalar(select(Message.content)
                                 .where(Message.conversation_id == conv.id, Message.role == "user")
                                 .order_by(Message.seq).limit(1))
                count = s.scalar(select(func.count()).select_from(Message).where(Message.conversation_id == conv.id))
                out.append({"id": conv.id, "user": conv.user, "channel": conv.channel, "created_at": conv.created_at,
                            "title": first or "", "messages": count or 0})
            return out

    def transcript(self, conversation_id: str, kb: str = DEFAULT) -> dict[str, Any]:
        """Return a conversation's owner and every message in order, answers with citations and ratings."""
        with self._db.session() as s:
            conv = s.get(Conversation, conversation_id)
            if conv is None or conv.kb != kb:
                raise NotFoundError(f"Conversation {conversation_id!r} not found; start one with POST /v1/chat")
            messages = list(s.scalars(select(Message).where(Message.conversation_id == conversation_id)
                                      .order_by(Message.seq)))
            ratings = {m: r for m, r in s.execute(
                select(Feedback.message_id, Feedback.rating).join(Message, Message.id == Feedback.message_id)
                .where(Message.conversation_id == conversation_id).order_by(Feedback.id))}
            return {"id": conv.id, "user": conv.user, "channel": conv.channel, "messages": [
                {"id": m.id, "role": m.role, "content": m.content, "language": m.language, "status": m.status,
                 "citations": json.loads(m.citations or "[]"), "rating": ratings.get(m.id)} for m in messages]}

    def message(self, message_id: str, kb: str = DEFAULT) -> dict[str, Any]:
        """Return one stored answer in base `kb` with its conversation's owner."""
        with self._db.session() as s:
            m = s.get(Message, message_id)
            conv = s.get(Conversation, m.conversation_id) if m is not None else None
            if m is None or m.role != "assistant" or conv is None or conv.kb != kb:
                raise NotFoundError(f"Message {message_id!r} not found; use the message_id returned by POST /v1/chat")
            return {"id": m.id, "conversation_id": m.conversation_id, "user": conv.user if conv else None,
                    "content": m.content, "language": m.language, "status": m.status, "question": m.question,
                    "citations": json.loads(m.citations or "[]")}

    def add_feedback(self, message_id: str, rating: str, comment: str | None, kb: str = DEFAULT) -> None:
        """Attach a rating to an answer given in base `kb`."""
        with self._db.session() as s:
            target = s.get(Message, message_id)
            conv = s.get(Conversation, target.conversation_id) if target is not None else None
            if target is None or target.role != "assistant" or conv is None or conv.kb != kb:
                raise NotFoundError(
                    f"Message {message_id!r} not found; use the message_id returned by POST /v1/chat"
                )
            s.add(Feedback(message_id=message_id, rating=rating, comment=comment))

    def unanswered(self, limit: int = 100, kb: str = DEFAULT) -> list[dict[str, Any]]:
        """Return sales questions the standards did not cover, and answers that got a down-vote, most frequent first.

        Questions that are not about selling (IT, HR, small talk) are not gaps in the standards and stay out. Only
        questions asked of base `kb` count: a gap in one team's standards is not another's.
        """
        report: dict[str, dict[str, Any]] = {}
        with self._db.session() as s:
            in_base = Message.conversation_id.in_(select(Conversation.id).where(Conversation.kb == kb))
            for m in s.scalars(select(Message).where(Message.status == "not_covered", in_base)):
                row = report.setdefault(_key(m.question or ""), _row(m))
                row["not_covered"] += 1
            down = s.execute(
                select(Message, Feedback.comment).join(Feedback, Feedback.message_id == Message.id)
                .where(Feedback.rating == "down", in_base)
            ).all()
            for m, comment in down:
                row = report.setdefault(_key(m.question or ""), _row(m))
                row["down_votes"] += 1
                if comment:
                    row["comments"].append(comment)
        rows = sorted(report.values(), key=lambda r: (-(r["not_covered"] + r["down_votes"]), r["question"]))
        for row in rows:
            row["count"] = row["not_covered"] + row["down_votes"]
        return rows[:limit]


def _check_kb(conv: Conversation | None, conversation_id: str, kb: str) -> None:
    """Treat another base's conversation as missing: its answers rest on standards this asker is not served."""
    if conv is not None and conv.kb != kb:
        raise NotFoundError(f"Conversation {conversation_id!r} not found; start one with POST /v1/chat")


def _key(question: str) -> str:
    return " ".join(question.lower().split())


def _row(m: Message) -> dict[str, Any]:
    return {"question": m.question or "", "language": m.language, "not_covered": 0, "down_votes": 0,
            "comments": [], "last_status": m.status}

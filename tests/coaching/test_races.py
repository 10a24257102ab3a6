"""Concurrent requests on one conversation: no 500, no duplicate or lost messages."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from app.coaching.store import Conversation, Message


def test_simultaneous_first_messages_on_a_new_conversation_all_succeed_with_distinct_seqs(client):
    # What eight request handlers do at once (TestClient itself is not made for concurrent requests).
    service, barrier = client.app.state.container.chat, threading.Barrier(8, timeout=30)

    def send(i: int) -> str:
        barrier.wait()
        return service.answer(f"How do I handle a price objection? ({i})", "conv_race").status

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(send, range(8)))
    assert statuses == ["answered"] * 8
    with client.app.state.container.database.session() as db:
        assert len(db.scalars(select(Conversation).where(Conversation.id == "conv_race")).all()) == 1
        seqs = sorted(db.scalars(select(Message.seq).where(Message.conversation_id == "conv_race")))
    assert seqs == list(range(1, 17))

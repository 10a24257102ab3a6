"""A database from before there were several knowledge bases: every row becomes `default`'s, nothing is lost."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.coaching.store import ChatStore
from app.db import Database


def test_rows_from_before_bases_existed_belong_to_default(tmp_path: Path) -> None:
    path = tmp_path / "coach.db"
    database = Database(f"sqlite:///{path}")
    store = ChatStore(database)
    message_id = store.record("conv_old", "How do I close?", "Ask for the order.", "en", "answered", [])
    store.add_feedback(message_id, "down", "too short")
    database.close()
    # Make it the database an older version left behind: no kb columns.
    with sqlite3.connect(path) as conn:
        for table in ("conversations", "roleplay_sessions"):
            conn.execute(f"DROP INDEX ix_{table}_kb")
            conn.execute(f"ALTER TABLE {table} DROP COLUMN kb")
        conn.execute("INSERT INTO trainer_assignments (scenario, rep, due, min_score, created_at) "
                     "VALUES ('price-objection', 'amy', '2030-01-31', 70, '2026-01-01 00:00:00')")
        conn.execute("ALTER TABLE trainer_assignments DROP COLUMN kb")
        assert "kb" not in {row[1] for row in conn.execute("PRAGMA table_info(conversations)")}

    database = Database(f"sqlite:///{path}")
    store = ChatStore(database)
    assert [t.content for t in store.history("conv_old")] == ["How do I close?", "Ask for the order."]
    assert [r["question"] for r in store.unanswered()] == ["How do I close?"]
    assert store.unanswered(kb="retail") == []
    store.record("conv_old", "And then?", "Confirm the next step.", "en", "answered", [])
    assert len(store.transcript("conv_old")["messages"]) == 4
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT kb FROM trainer_assignments").fetchall() == [("default",)]
    database.close()

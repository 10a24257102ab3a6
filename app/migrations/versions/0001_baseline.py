"""Baseline: the schema as it was when migrations were introduced.

Databases made before migrations existed (tables created at start-up, columns added to older tables) are
adopted: a table that exists is kept and only the columns it lacks are added, so every database ends up at
this revision with the same schema.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

# A frozen copy of the tables at this revision (later revisions change them with op.* calls, never here).
schema = sa.MetaData()
when = sa.DateTime(timezone=True)

sa.Table(
    "conversations", schema,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("user", sa.String(200), nullable=True),
    sa.Column("created_at", when, nullable=False),
)
sa.Table(
    "messages", schema,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("conversation_id", sa.String(200), sa.ForeignKey("conversations.id"), nullable=False, index=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("role", sa.String(10), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("language", sa.String(5), nullable=False),
    sa.Column("status", sa.String(20), nullable=True),
    sa.Column("citations", sa.Text, nullable=False),
    sa.Column("question", sa.Text, nullable=True),
    sa.Column("created_at", when, nullable=False),
    sa.UniqueConstraint("conversation_id", "seq", name="uq_message_seq"),
)
sa.Table(
    "feedback", schema,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(40), sa.ForeignKey("messages.id"), nullable=False, index=True),
    sa.Column("rating", sa.String(4), nullable=False),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("created_at", when, nullable=False),
)
sa.Table(
    "rate_counters", schema,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("window", sa.Integer, primary_key=True, index=True),
    sa.Column("count", sa.Integer, nullable=False),
)
sa.Table(
    "roleplay_sessions", schema,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("scenario", sa.String(64), nullable=False, index=True),
    sa.Column("lang", sa.String(2), nullable=False),
    sa.Column("difficulty", sa.String(8), nullable=False),
    sa.Column("rep", sa.String(128), nullable=True, index=True),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column("score", sa.Integer, nullable=True),
    sa.Column("opening", sa.Text, nullable=False),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("scorecard", sa.JSON, nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", when, nullable=False),
    sa.Column("updated_at", when, nullable=False),
)
sa.Table(
    "roleplay_turns", schema,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.String(32), sa.ForeignKey("roleplay_sessions.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("rep", sa.Text, nullable=False),
    sa.Column("customer", sa.Text, nullable=False),
    sa.Column("voice", sa.String(8), nullable=False),
    sa.Column("feedback", sa.JSON, nullable=False),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("created_at", when, nullable=False),
    sa.UniqueConstraint("session_id", "n", name="uq_roleplay_turn"),
)
sa.Table(
    "slack_claims", schema,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("created_at", when, nullable=False, index=True),
    sa.Column("lease_until", when, nullable=True),
    # Claims written before leases existed count as done.
    sa.Column("done", sa.Boolean, nullable=False, server_default=sa.true()),
)
sa.Table(
    "slack_locks", schema,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("expires_at", when, nullable=False),
)
sa.Table(
    "slack_threads", schema,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("user", sa.String(64), nullable=False),
    sa.Column("session_id", sa.String(64), nullable=True),
    sa.Column("lang", sa.String(2), nullable=True),
    sa.Column("customer", sa.String(128), nullable=True),
    sa.Column("created_at", when, nullable=False),
)
sa.Table(
    "trainer_comments", schema,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.String(32), sa.ForeignKey("roleplay_sessions.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("turn", sa.Integer, nullable=False),
    sa.Column("author", sa.String(128), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", when, nullable=False),
)
sa.Table(
    "trainer_verdict_overrides", schema,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.String(32), sa.ForeignKey("roleplay_sessions.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("standard", sa.String(64), nullable=False),
    sa.Column("original", sa.String(16), nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("created_at", when, nullable=False),
    sa.UniqueConstraint("session_id", "standard", "original", name="uq_verdict_override"),
)
sa.Table(
    "trainer_score_overrides", schema,
    sa.Column("session_id", sa.String(32), sa.ForeignKey("roleplay_sessions.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("created_at", when, nullable=False),
)
sa.Table(
    "trainer_assignments", schema,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("scenario", sa.String(64), nullable=False),
    sa.Column("rep", sa.String(128), nullable=False, index=True),
    sa.Column("due", sa.Date, nullable=False),
    sa.Column("min_score", sa.Integer, nullable=False),
    sa.Column("created_at", when, nullable=False),
    sa.UniqueConstraint("scenario", "rep", name="uq_assignment"),
)
sa.Table(
    "trainer_gap_decisions", schema,
    sa.Column("question_key", sa.String(512), primary_key=True),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("item_id", sa.String(128), nullable=True),
    sa.Column("language", sa.String(5), nullable=False),
    sa.Column("created_at", when, nullable=False),
)


def upgrade() -> None:
    """Create the tables, or add what a database from before migrations lacks."""
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    for table in schema.sorted_tables:
        if not inspector.has_table(table.name):
            table.create(bind)  # with its indexes
            continue
        existing = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in existing:
                op.add_column(table.name, column._copy())


def downgrade() -> None:
    """Drop every table."""
    bind = op.get_bind()
    for table in reversed(schema.sorted_tables):
        table.drop(bind, checkfirst=True)

"""Slack claims carry their work: payload, holder and attempts, so a sweeper can finish what a dead process acked

Revision ID: c3d1e2f4a5b6
Revises: b1aad445f8c0
Create Date: 2026-11-28 06:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c3d1e2f4a5b6"
down_revision = "b1aad445f8c0"
branch_labels = None
depends_on = None

COLUMNS = (
    ("payload", lambda: sa.Column("payload", sa.Text(), nullable=True)),
    ("holder", lambda: sa.Column("holder", sa.String(length=64), nullable=True)),
    ("attempts", lambda: sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False)),
)


def upgrade() -> None:
    """Add the columns; a database that already has them (made by a newer start-up) keeps them as they are."""
    existing = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("slack_claims")}
    # Plain ALTER TABLE ADD COLUMN: nullable or with a constant default, SQLite and PostgreSQL do it in place.
    for name, column in COLUMNS:
        if name not in existing:
            op.add_column("slack_claims", column())


def downgrade() -> None:
    """Drop the columns."""
    with op.batch_alter_table("slack_claims") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)

"""knowledge bases and generated enrichment

Revision ID: b1aad445f8c0
Revises: 0001_baseline
Create Date: 2026-11-28 04:19:09.342892
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'b1aad445f8c0'
down_revision = '0001_baseline'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply the change; a database that start-up already gave these tables or columns keeps them as they are."""
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())
    when = sa.DateTime(timezone=True)
    if "knowledge_base_mappings" not in tables:
        op.create_table(
            "knowledge_base_mappings",
            sa.Column("kind", sa.String(length=20), nullable=False),
            sa.Column("key", sa.String(length=200), nullable=False),
            sa.Column("kb", sa.String(length=40), nullable=False),
            sa.Column("created_at", when, nullable=False),
            sa.PrimaryKeyConstraint("kind", "key"),
        )
        op.create_index("ix_knowledge_base_mappings_kb", "knowledge_base_mappings", ["kb"], unique=False)
    if "knowledge_bases" not in tables:
        op.create_table(
            "knowledge_bases",
            sa.Column("name", sa.String(length=40), nullable=False),
            sa.Column("folder", sa.Text(), nullable=False),
            sa.Column("created_at", when, nullable=False),
            sa.PrimaryKeyConstraint("name"),
        )
    enrichment = [sa.Column(name, sa.Text(), nullable=False) for name in ("hints", "do", "avoid", "say")]
    if "knowledge_enrichment_cache" not in tables:
        op.create_table(
            "knowledge_enrichment_cache",
            sa.Column("model", sa.String(length=255), nullable=False),
            sa.Column("text_hash", sa.String(length=64), nullable=False),
            sa.Column("item_id", sa.String(length=128), nullable=False),
            sa.Column("lang", sa.String(length=8), nullable=False),
            *[c.copy() for c in enrichment],
            sa.Column("created_at", when, nullable=False),
            sa.PrimaryKeyConstraint("model", "text_hash"),
        )
    if "knowledge_enrichment_reviews" not in tables:
        op.create_table(
            "knowledge_enrichment_reviews",
            sa.Column("item_id", sa.String(length=128), nullable=False),
            sa.Column("lang", sa.String(length=8), nullable=False),
            sa.Column("text_hash", sa.String(length=64), nullable=False),
            *[c.copy() for c in enrichment],
            sa.Column("reviewer", sa.String(length=128), nullable=False),
            sa.Column("updated_at", when, nullable=False),
            sa.PrimaryKeyConstraint("item_id", "lang"),
        )
    # Plain ALTER TABLE (not batch mode): SQLite adds a column with a constant default in place, while a batch
    # copy-and-move of `conversations` would break the foreign keys that point at it.
    for table in ("conversations", "roleplay_sessions", "trainer_assignments"):
        if "kb" not in {c["name"] for c in inspector.get_columns(table)}:
            op.add_column(table, sa.Column("kb", sa.String(length=40), server_default=sa.text("'default'"),
                                           nullable=False))
    for table in ("conversations", "roleplay_sessions"):
        if f"ix_{table}_kb" not in {i["name"] for i in inspector.get_indexes(table)}:
            op.create_index(f"ix_{table}_kb", table, ["kb"], unique=False)


def downgrade() -> None:
    """Undo the change."""
    op.drop_index("ix_roleplay_sessions_kb", table_name="roleplay_sessions")
    op.drop_index("ix_conversations_kb", table_name="conversations")
    for table in ("trainer_assignments", "roleplay_sessions", "conversations"):
        op.drop_column(table, "kb")

    op.drop_table('knowledge_enrichment_reviews')
    op.drop_table('knowledge_enrichment_cache')
    op.drop_table('knowledge_bases')
    with op.batch_alter_table('knowledge_base_mappings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_knowledge_base_mappings_kb'))

    op.drop_table('knowledge_base_mappings')

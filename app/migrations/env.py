"""Alembic's entry point: run the revisions on the connection app.migrations hands over."""

from __future__ import annotations

from alembic import context

import app.models  # noqa: F401 - registers every table on Base
from app.db import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `coach migrate` (app.migrations.upgrade), not the alembic command")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    compare_type=True,
    # SQLite cannot alter most of a table in place: batch mode copies the table, so one revision serves both.
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()

"""Schema migrations (Alembic): the database is brought to the newest revision at start-up and by `coach migrate`.

Adding a table or a column: change the model, then run `coach migrate --new "what changed"`. That writes a
revision under app/migrations/versions/ from the difference between the models and the newest revision; read
it, adjust it if needed, and commit it. tests/storage/test_migrations.py fails while a model and the revisions
disagree.

Several processes may start at once against one database: on PostgreSQL the upgrade runs under an advisory
lock, on SQLite under a file lock beside the database file, so one process migrates and the others wait, then
find nothing left to do.
"""

from __future__ import annotations

import fcntl
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, text

HERE = Path(__file__).resolve().parent
# Any constant that no other application on the same PostgreSQL uses for pg_advisory_lock.
ADVISORY_LOCK_KEY = 0x5A1E5C0AC4

log = logging.getLogger(__name__)


def alembic_config(connection: Connection | None = None, versions: Path | None = None) -> Config:
    """Return an Alembic configuration for our scripts (or those in `versions`), bound to an open connection."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("version_locations", str(versions or HERE / "versions"))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """Return the newest revision id."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    """Return the revision the database is at (None: never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """Yield a connection held under a lock that only one migrating process at a time can take."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            conn.commit()  # the lock is held by the session, not the transaction
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
                conn.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        with engine.connect() as conn:
            yield conn
        return
    with open(f"{database}.migrate-lock", "a") as lock_file, engine.connect() as conn:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield conn
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def upgrade(engine: Engine, revision: str = "head", versions: Path | None = None) -> None:
    """Bring the database to `revision` (default: the newest), one process at a time."""
    with _migration_lock(engine) as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        conn.rollback()
        command.upgrade(alembic_config(conn, versions), revision)
        conn.commit()
        after = MigrationContext.configure(conn).get_current_revision()
        conn.rollback()
    if before != after:
        log.info("database migrated from %s to %s", before or "nothing", after)


def differences(engine: Engine) -> list[Any]:
    """Return what autogenerate finds between the models and the database (empty: they agree)."""
    import app.models  # noqa: F401 - registers every table
    from app.db import Base

    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn, opts=_compare_options()), Base.metadata))


def _compare_options() -> dict[str, Any]:
    return {"compare_type": True, "render_as_batch": True}


def new_revision(message: str, versions: Path | None = None) -> Path | None:
    """Write a revision for what the models have that the newest revision does not; return its file (None: nothing).

    The difference is taken against an empty SQLite database brought to the newest revision, so no server is
    needed; revisions run in batch mode, so what is written works on PostgreSQL and SQLite alike.
    """
    with tempfile.TemporaryDirectory(prefix="coach-migrate-") as scratch:
        engine = create_engine(f"sqlite:///{scratch}/head.db")
        try:
            upgrade(engine, versions=versions)
            if not differences(engine):
                return None
            with engine.connect() as conn:
                script = command.revision(alembic_config(conn, versions), message=message, autogenerate=True)
        finally:
            engine.dispose()
    assert script is not None and not isinstance(script, list)
    return Path(script.path)

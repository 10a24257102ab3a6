"""Migrations on SQLite and PostgreSQL: the models match the revisions, several processes start at once, a
database from before migrations is adopted, and a model change becomes a revision that applies."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import create_engine, text

from app import migrations
from app.config import ROOT, Settings
from app.db import Base, Database


def test_the_models_match_the_migrations(database: Database) -> None:
    assert migrations.current(database.engine) == migrations.head()
    assert migrations.differences(database.engine) == []


def test_processes_starting_at_once_migrate_once(database_url: str, tmp_path: Path) -> None:
    url = Settings(data_dir=tmp_path, database_url=database_url).db_url
    # Each process waits for a start file, so that all of them reach the upgrade together.
    go = tmp_path / "go"
    script = (
        "import sys, time, pathlib\n"
        "from app.db import Database\n"
        "go = pathlib.Path(sys.argv[2])\n"
        "while not go.exists(): time.sleep(0.01)\n"
        "Database(sys.argv[1]).close()\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, url, str(go)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    try:
        import time

        time.sleep(3)  # every process has imported the app and is polling
        go.touch()
        errors = [proc.communicate(timeout=120)[1] for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    assert [proc.returncode for proc in procs] == [0, 0, 0], errors
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [migrations.head()]
        assert migrations.differences(engine) == []
    finally:
        engine.dispose()


def test_a_database_from_before_migrations_is_adopted(database: Database) -> None:
    # What start-up used to do: create_all, and older versions lacked some columns.
    with database.engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("DROP TABLE trainer_gap_decisions"))
        conn.execute(text("ALTER TABLE roleplay_sessions DROP COLUMN version"))
        conn.execute(text("INSERT INTO conversations (id, channel, created_at) VALUES ('conv_old', 'api', "
                          "CURRENT_TIMESTAMP)"))
    reopened = Database(database.engine.url.render_as_string(hide_password=False))
    try:
        assert migrations.current(reopened.engine) == migrations.head()
        assert migrations.differences(reopened.engine) == []
        with reopened.engine.connect() as conn:
            assert conn.execute(text("SELECT id FROM conversations")).scalars().all() == ["conv_old"]
    finally:
        reopened.close()


def test_a_model_change_becomes_a_revision_that_applies(database_url: str, tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    shutil.copytree(migrations.HERE / "versions", versions, ignore=shutil.ignore_patterns("__pycache__"))
    assert migrations.new_revision("nothing changed", versions) is None
    url = Settings(data_dir=tmp_path, database_url=database_url).db_url
    engine = create_engine(url)
    probe = sa.Table("probe_notes", Base.metadata, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("note", sa.Text, nullable=True))
    try:
        migrations.upgrade(engine, versions=versions)
        assert [type(d).__name__ if not isinstance(d, tuple) else d[0] for d in migrations.differences(engine)] == [
            "add_table"
        ]
        written = migrations.new_revision("add probe notes", versions)
        assert written is not None and "op.create_table('probe_notes'" in written.read_text()
        migrations.upgrade(engine, versions=versions)
        assert migrations.differences(engine) == []
    finally:
        Base.metadata.remove(probe)
        engine.dispose()

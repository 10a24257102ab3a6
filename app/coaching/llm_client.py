"""A small OpenAI-compatible chat client that streams tokens and hangs up when time runs out or nobody listens.

LangChain's invoke() in a worker thread cannot be stopped: an abandoned generation kept running on the model
server and delayed the next requests. This client owns the HTTP connection, so when the request's budget is
spent or the caller cancels (the rep closed the page), it closes the connection and the server sees it go.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx


class LLMFailure(Exception):
    """The model timed out, errored, was cancelled, or produced an answer that failed the checks."""

    def __init__(self, message: str, reason: str = "error") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Budget:
    """One deadline for everything the LLM does for one request, and a way to cancel it early."""

    seconds: float
    cancel: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        """Return the seconds left (never below zero)."""
        return max(0.0, self.started + self.seconds - time.monotonic())

    def check(self) -> None:
        """Raise LLMFailure when the budget is spent or the request was cancelled."""
        if self.cancel.is_set():
            raise LLMFailure("the client went away", "cancelled")
        if self.left() <= 0:
            raise LLMFailure(f"model did not finish within the {self.seconds:g}s budget", "timeout")


class ChatClient:
    """POST /chat/completions with stream=true against any OpenAI-compatible server."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, temperature: float = 0.3) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.temperature = temperature
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(headers=self._headers)

    def stream(self, messages: list[dict[str, str]], budget: Budget) -> Iterator[str]:
        """Yield the answer's text pieces as the model produces them; hang up on budget or cancel."""
        budget.check()
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": self.temperature,
                                "stream": True}
        done = threading.Event()
        holder: dict[str, httpx.Response] = {}

        def watchdog() -> None:
            # Closing the response closes the socket under the reader, and the model server sees it go.
            while not done.wait(0.05):
                if budget.cancel.is_set() or budget.left() <= 0:
                    holder["response"].close()
                    return

        timeout = httpx.Timeout(budget.left(), connect=min(5.0, budget.left()))
        try:
            with self._http.stream("POST", self.url, json=body, timeout=timeout) as response:
                holder["response"] = response
                threading.Thread(target=watchdog, daemon=True, name="llm-watchdog").start()
                if response.status_code != 200:
                    raise LLMFailure(f"model server answered HTTP {response.status_code}", "error")
                if response.headers.get("content-type", "").startswith("application/json"):
                    # A server that ignores "stream": the whole completion at once.
                    yield _delta(response.read().decode("utf-8"))
                    return
                for line in response.iter_lines():
                    budget.check()
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    piece = _delta(data)
                    if piece:
                        yield piece
            budget.check()
        except LLMFailure:
            raise
        except (httpx.HTTPError, RuntimeError, ValueError) as exc:
            if budget.cancel.is_set() or budget.left() <= 0:
                budget.check()
            raise LLMFailure(f"model error: {type(exc).__name__}", "error") from exc
        finally:
            done.set()

    def complete(self, messages: list[dict[str, str]], budget: Budget) -> str:
        """Return the whole answer (still streamed underneath, so the budget can stop it)."""
        return "".join(self.stream(messages, budget))

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()


def _delta(data: str) -> str:
    try:
        chunk = json.loads(data)
        choice = chunk["choices"][0]
        return str((choice.get("delta") or choice.get("message") or {}).get("content") or "")
    except (ValueError, KeyError, IndexError, TypeError):
        return ""

"""A small client for a running Sales Coach service, so CLI commands need not load the models themselves."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from app.errors import CoachError

READY_TIMEOUT_S = 0.3  # a service on this machine answers /readyz in a few milliseconds
# Never route loopback calls through a proxy from the environment (and stdlib urllib, not httpx: it imports faster).
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServiceError(CoachError):
    """The running service refused a request; the message is its `detail`."""


class ServiceClient:
    """Calls the search and chat routes of a service that said it is ready."""

    def __init__(self, base_url: str, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    @classmethod
    def find(cls, base_url: str, timeout_s: float = 60.0) -> ServiceClient | None:
        """Return a client when a service at `base_url` answers GET /readyz with 200 quickly, else None."""
        if not base_url:
            return None
        try:
            with _OPENER.open(f"{base_url.rstrip('/')}/readyz", timeout=READY_TIMEOUT_S) as ready:
                if ready.status != 200 or ready.headers.get_content_type() != "application/json":
                    return None
        except (OSError, ValueError):  # refused, timed out, a 503 (HTTPError is an OSError), a malformed URL
            return None
        return cls(base_url, timeout_s)

    def _post(self, path: str, body: dict[str, Any], kb: str | None = None) -> dict[str, Any]:
        headers = {"content-type": "application/json", **({"X-Coach-KB": kb} if kb else {})}
        request = urllib.request.Request(
            f"{self.base_url}{path}", data=json.dumps(body).encode("utf-8"), headers=headers, method="POST",
        )
        try:
            with _OPENER.open(request, timeout=self.timeout_s) as response:
                result: dict[str, Any] = json.loads(response.read())
                return result
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read()).get("detail")
            except ValueError:
                detail = None
            raise ServiceError(f"{self.base_url}{path} answered {exc.code}: {detail or exc.reason}") from None
        except OSError as exc:
            raise ServiceError(f"the service at {self.base_url} stopped answering: {exc}") from None

    def search(self, query: str, k: int = 5, stage: int | None = None, kb: str | None = None) -> list[dict[str, Any]]:
        """Return the hits of POST /v1/search."""
        body: dict[str, Any] = {"query": query, "k": k}
        if stage is not None:
            body["stage"] = stage
        hits: list[dict[str, Any]] = self._post("/v1/search", body, kb)["hits"]
        return hits

    def chat(
        self, message: str, lang: str | None = None, conversation_id: str | None = None, kb: str | None = None
    ) -> dict[str, Any]:
        """Return the answer of POST /v1/chat (the same fields as ChatResult.public())."""
        body: dict[str, Any] = {"message": message}
        if lang is not None:
            body["lang"] = lang
        if conversation_id is not None:
            body["conversation_id"] = conversation_id
        return self._post("/v1/chat", body, kb)

    def close(self) -> None:
        """Nothing to release: every call opens and closes its own connection."""

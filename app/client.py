"""A small client for a running Sales Coach service, so CLI commands need not load the models themselves."""

from __future__ import annotations

from typing import Any

import httpx

from app.errors import CoachError

READY_TIMEOUT_S = 0.3  # a service on this machine answers /readyz in a few milliseconds


class ServiceError(CoachError):
    """The running service refused a request; the message is its `detail`."""


class ServiceClient:
    """Calls the search and chat routes of a service that said it is ready."""

    def __init__(self, base_url: str, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s, trust_env=False)

    @classmethod
    def find(cls, base_url: str, timeout_s: float = 60.0) -> ServiceClient | None:
        """Return a client when a service at `base_url` answers GET /readyz with 200 quickly, else None."""
        if not base_url:
            return None
        try:
            ready = httpx.get(f"{base_url.rstrip('/')}/readyz", timeout=READY_TIMEOUT_S, trust_env=False)
        except httpx.HTTPError:
            return None
        if ready.status_code != 200 or ready.headers.get("content-type", "").split(";")[0] != "application/json":
            return None
        return cls(base_url, timeout_s)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._http.post(path, json=body)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = None
            raise ServiceError(f"{self.base_url}{path} answered {response.status_code}: {detail or response.text}")
        result: dict[str, Any] = response.json()
        return result

    def search(self, query: str, k: int = 5, stage: int | None = None) -> list[dict[str, Any]]:
        """Return the hits of POST /v1/search."""
        body: dict[str, Any] = {"query": query, "k": k}
        if stage is not None:
            body["stage"] = stage
        hits: list[dict[str, Any]] = self._post("/v1/search", body)["hits"]
        return hits

    def chat(self, message: str, lang: str | None = None, conversation_id: str | None = None) -> dict[str, Any]:
        """Return the answer of POST /v1/chat (the same fields as ChatResult.public())."""
        body: dict[str, Any] = {"message": message}
        if lang is not None:
            body["lang"] = lang
        if conversation_id is not None:
            body["conversation_id"] = conversation_id
        return self._post("/v1/chat", body)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

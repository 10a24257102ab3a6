"""ASGI middleware: the body limit (on the stream, whatever the framing), security headers, rate limit, NUL in URLs."""

from __future__ import annotations

import asyncio

from fastapi import HTTPException
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import BadRequestError, RateLimitedError, error_response
from app.ratelimit import RateLimiter


class PayloadTooLargeError(HTTPException):
    """The request body is over the limit.

    An HTTPException rather than a CoachError: it is raised while FastAPI reads the body, which passes
    HTTPExceptions through and turns anything else into a 400.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body is larger than {max_bytes} bytes; send a shorter message")


class BodyLimit:
    """Answer 413 once a request body passes `max_bytes`, counting the bytes actually received.

    Content-Length is checked up front, but a chunked body has none, so the limit is also enforced on the stream:
    the handler's read fails as soon as the running total passes the limit, before the rest is buffered.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, uploads: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = uploads or {}  # path -> a larger limit for a file upload (plus room for the form)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.uploads.get(scope["path"], self.max_bytes)
        too_large = PayloadTooLargeError(max_bytes)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > max_bytes:
            await error_response(too_large)(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise too_large
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except PayloadTooLargeError:
            # Reached only when something read the body outside a route (routes turn it into a 413 themselves).
            if started:
                raise
            await error_response(too_large)(scope, receive, send)


# The API returns JSON and CSV only: nothing may load, frame or run.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
API_PREFIXES = ("/v1/", "/slack/", "/openapi.json", "/metrics", "/healthz", "/readyz")
# Web pages load only this service's own files (vendored htmx, no CDN, no web fonts) and post only to it.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'")
# The self-hosted Swagger UI and ReDoc need their inline start-up script and (ReDoc) a blob worker.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; font-src 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")
DOCS_PATHS = ("/docs", "/redoc")


class SecurityHeaders:
    """Add the security headers to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        csp = DOCS_CSP if path.startswith(DOCS_PATHS) else API_CSP if path.startswith(API_PREFIXES) else PAGE_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Content-Security-Policy", csp)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RateLimit:
    """Answer 429 (with Retry-After) to a client address over its requests per minute on /v1/ routes."""

    def __init__(self, app: ASGIApp, per_minute: int) -> None:
        self.app = app
        self.per_minute = per_minute
        self._limiter: RateLimiter | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        if self._limiter is None:
            # The database is opened in the lifespan, after the middleware stack is built.
            self._limiter = RateLimiter(scope["app"].state.container.database, self.per_minute)
        client = scope.get("client")
        wait = await asyncio.to_thread(self._limiter.hit, f"http:{client[0] if client else 'unknown'}")
        if wait:
            error = RateLimitedError(
                f"too many requests: at most {self.per_minute} a minute from one client; retry in {wait} seconds",
                retry_after=wait,
            )
            await error_response(error)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class NoNulInURL:
    """Answer 400 to a URL whose path or query holds a NUL character: PostgreSQL cannot even compare one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = scope.get("query_string", b"")
            if "\x00" in scope["path"] or b"\x00" in query or b"%00" in query.lower():
                error = BadRequestError("URLs must not contain NUL characters (%00); remove them")
                await error_response(error)(scope, receive, send)
                return
        await self.app(scope, receive, send)

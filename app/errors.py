"""The project's exceptions, and the one place that maps them to HTTP responses."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse, Response

# A validation error quotes at most this much of what was sent: enough to recognise it, never the whole body.
EXCERPT_CHARS = 100


class CoachError(Exception):
    """An error with a fixed, user-facing message and an HTTP status."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(CoachError):
    """The thing asked for does not exist."""

    status_code = 404


class ConflictError(CoachError):
    """The request is valid but the resource is not in a state that allows it."""

    status_code = 409


class BadRequestError(CoachError):
    """The request is well-formed but asks for something that cannot be done."""

    status_code = 400


class UnauthorizedError(CoachError):
    """Missing or invalid credentials."""

    status_code = 401


class ForbiddenError(CoachError):
    """The request is authenticated but not allowed (e.g. a form without its CSRF token)."""

    status_code = 403


class SignInRequiredError(CoachError):
    """A web page needs a signed-in rep or trainer; the browser is sent to `location` to sign in."""

    status_code = 303

    def __init__(self, message: str, location: str) -> None:
        super().__init__(message)
        self.location = location


class RateLimitedError(CoachError):
    """Too many requests from one client; Retry-After says when to try again."""

    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IndexNotReadyError(CoachError):
    """The knowledge index is missing or empty."""

    status_code = 503


class ConfigError(CoachError):
    """The service is misconfigured; the message says which setting to fix."""

    status_code = 500


# What each error status means, for the OpenAPI document (every one has the body {"detail": "..."}).
ERROR_MEANINGS = {
    400: "Malformed request, e.g. a NUL character in the URL",
    401: "Missing or invalid trainer bearer token",
    404: "Not found; the detail says where to look",
    409: "The resource is not in a state that allows this (e.g. the session has ended)",
    413: "Request body over the size limit",
    429: "Too many requests from this client; see the Retry-After header",
    503: "The knowledge index is not built; run `coach ingest`",
}
ERROR_SCHEMA = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Return OpenAPI `responses` declaring these error statuses."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        out[code] = {"description": ERROR_MEANINGS[code], "content": {"application/json": {"schema": ERROR_SCHEMA}}}
        if code == 429:
            out[code]["headers"] = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
    return out


def error_response(exc: CoachError | HTTPException) -> JSONResponse:
    """Return the JSON response for one of our errors: `{"detail": message}` with its status."""
    from fastapi import HTTPException
    from fastapi.responses import JSONResponse

    if isinstance(exc, HTTPException):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    headers = None
    if isinstance(exc, UnauthorizedError):
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, RateLimitedError):
        headers = {"Retry-After": str(exc.retry_after)}
    return JSONResponse({"detail": exc.message}, status_code=exc.status_code, headers=headers)


def excerpt(value: Any) -> Any:
    """Return `value` if it is short, plain JSON, else a short string excerpt of it that is safe to encode."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value
    elif isinstance(value, float) and not math.isfinite(value):
        return str(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError):
            text = f"<{type(value).__name__}>"
        if len(text) <= EXCERPT_CHARS and _utf8(text):
            return value
    short = text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"
    # A lone surrogate cannot be encoded as UTF-8: show it escaped rather than fail the whole response.
    return short.encode("utf-8", "backslashreplace").decode("utf-8")


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


HtmlErrorPage = Callable[["Request", CoachError], "Response"]


def install_error_handlers(app: FastAPI, html: HtmlErrorPage | None = None) -> None:
    """Map CoachError subclasses to JSON responses with their message as `detail` (web pages: `html`); keep 422s
    short and safe."""
    from fastapi.encoders import jsonable_encoder
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, RedirectResponse

    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CoachError)
        if isinstance(exc, SignInRequiredError):
            return RedirectResponse(exc.location, status_code=303)
        if html is not None and wants_html(request):
            return html(request, exc)
        return error_response(exc)

    async def invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{**error, "input": excerpt(error["input"])} if "input" in error else error for error in exc.errors()]
        return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)

    app.add_exception_handler(CoachError, handle)
    app.add_exception_handler(RequestValidationError, invalid)


def wants_html(request: Request) -> bool:
    """Return whether a request came from a web page (not the JSON API, Slack or a script)."""
    path = request.url.path
    if path.startswith(("/v1/", "/slack/", "/healthz", "/readyz", "/metrics")):
        return False
    return "text/html" in request.headers.get("accept", "") or request.headers.get("HX-Request") == "true"

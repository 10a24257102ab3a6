"""The project's exceptions, and the one place that maps them to HTTP responses."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports these errors and should not pay for importing FastAPI
    from fastapi import FastAPI, Request
    from fastapi.responses import Response


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


class IndexNotReadyError(CoachError):
    """The knowledge index is missing or empty."""

    status_code = 503


class ConfigError(CoachError):
    """The service is misconfigured; the message says which setting to fix."""

    status_code = 500


HtmlErrorPage = Callable[["Request", CoachError], "Response"]


def install_error_handlers(app: FastAPI, html: HtmlErrorPage | None = None) -> None:
    """Map CoachError subclasses to JSON responses with their message as `detail` (web pages: `html`)."""
    from fastapi.responses import JSONResponse, RedirectResponse

    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CoachError)
        if isinstance(exc, SignInRequiredError):
            return RedirectResponse(exc.location, status_code=303)
        if html is not None and wants_html(request):
            return html(request, exc)
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, UnauthorizedError) else None
        return JSONResponse({"detail": exc.message}, status_code=exc.status_code, headers=headers)

    app.add_exception_handler(CoachError, handle)


def wants_html(request: Request) -> bool:
    """Return whether a request came from a web page (not the JSON API, Slack or a script)."""
    path = request.url.path
    if path.startswith(("/v1/", "/slack/", "/healthz", "/readyz")):
        return False
    return "text/html" in request.headers.get("accept", "") or request.headers.get("HX-Request") == "true"

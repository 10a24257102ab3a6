"""The project's exceptions, and the one place that maps them to HTTP responses."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports these errors and should not pay for importing FastAPI
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse


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


class IndexNotReadyError(CoachError):
    """The knowledge index is missing or empty."""

    status_code = 503


class ConfigError(CoachError):
    """The service is misconfigured; the message says which setting to fix."""

    status_code = 500


def install_error_handlers(app: FastAPI) -> None:
    """Map CoachError subclasses to JSON responses with their message as `detail`."""
    from fastapi.responses import JSONResponse

    async def handle(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CoachError)
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, UnauthorizedError) else None
        return JSONResponse({"detail": exc.message}, status_code=exc.status_code, headers=headers)

    app.add_exception_handler(CoachError, handle)

"""The web app for reps and trainers: server-rendered pages, HTMX for partial updates and streaming."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from app.config import Settings
from app.errors import CoachError

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
SESSION_COOKIE = "coach_session"
# Pages load only this service's own files; Swagger UI's page needs its inline start-up script.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'")
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; font-src 'self'; "
            "frame-ancestors 'none'")


def html_error(request: Request, exc: CoachError) -> Response:
    """Render a CoachError as a page (or a fragment for HTMX) instead of JSON."""
    from app.web.render import render

    return render(request, "error.html", status_code=exc.status_code, message=exc.message)


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the static files and the self-hosted API docs, and (with COACH_WEB on) the session cookie and pages."""
    from app.web import docs, rep, trainer

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(docs.router)
    if not settings.web:
        return

    if settings.session_secret is not None:
        secret = settings.session_secret.get_secret_value()
    else:
        secret = secrets.token_urlsafe(32)
        log.warning("COACH_SESSION_SECRET is not set: using a per-process secret, so sign-ins end at restart")
    app.add_middleware(
        SessionMiddleware, secret_key=secret, session_cookie=SESSION_COOKIE, max_age=settings.session_max_age_s,
        same_site="lax", https_only=False,
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        path = request.url.path
        if path.startswith(("/docs", "/redoc")):
            response.headers.setdefault("Content-Security-Policy", DOCS_CSP)
        elif not path.startswith(("/v1/", "/slack/", "/openapi.json")):
            response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    app.include_router(rep.router)
    app.include_router(trainer.router)

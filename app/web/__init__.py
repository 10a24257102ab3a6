"""The web app for reps and trainers: server-rendered pages, HTMX for partial updates and streaming."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from app.config import Settings
from app.errors import CoachError

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
SESSION_COOKIE = "coach_session"


def html_error(request: Request, exc: CoachError) -> Response:
    """Render a CoachError as a page (or a fragment for HTMX) instead of JSON."""
    from app.web.render import render

    return render(request, "error.html", status_code=exc.status_code, message=exc.message)


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the static files and the self-hosted API docs, and (with COACH_WEB on) the session cookie and pages."""
    from app.web import docs, rep, scenarios, trainer

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

    app.include_router(rep.router)
    app.include_router(trainer.router)
    app.include_router(scenarios.router)

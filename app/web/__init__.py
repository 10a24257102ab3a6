"""The web app for reps and trainers: server-rendered pages, HTMX for partial updates and streaming."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.errors import CoachError

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
SESSION_COOKIE = "coach_session"


class SecureCookies:
    """Add the Secure attribute to every cookie set over https (mode "auto"), or always ("true"), or never."""

    def __init__(self, app: ASGIApp, mode: str) -> None:
        self.app = app
        self.mode = mode

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        secure = self.mode == "true" or (self.mode == "auto" and scope.get("scheme") in ("https", "wss"))
        if scope["type"] != "http" or not secure:
            await self.app(scope, receive, send)
            return

        async def send_secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [
                    (name, value + b"; Secure" if name.lower() == b"set-cookie" and b"; secure" not in value.lower()
                     else value) for name, value in message.get("headers", [])]}
            await send(message)

        await self.app(scope, receive, send_secure)


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

    # Added after the session middleware, so it wraps it and sees every cookie set, the session's included.
    app.add_middleware(SecureCookies, mode=settings.cookie_secure)

    app.include_router(rep.router)
    app.include_router(trainer.router)
    app.include_router(scenarios.router)

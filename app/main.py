"""create_app(): assemble the routers; the lifespan builds the heavy objects once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from app import __version__, web
from app.api import chat, health, knowledge, roleplay, search, slack, trainer
from app.config import Settings, get_settings
from app.container import build_container
from app.errors import install_error_handlers

log = logging.getLogger("app")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the FastAPI application."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = build_container(settings)
        app.state.container = container
        app.state.slack = slack.build_slack(container)
        try:
            yield
        finally:
            if app.state.slack is not None:
                await app.state.slack.close()
            container.close()

    app = FastAPI(
        title="Sales Coach",
        version=__version__,
        description="Coaching answers, role-play practice and Slack, grounded in your sales standards.",
        lifespan=lifespan,
        # /docs and /redoc are served from vendored files by the web app (no CDN).
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app, html=web.html_error if settings.web else None)

    @app.middleware("http")
    async def limit_body_size(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > settings.max_body_bytes:
            return JSONResponse(
                {"detail": f"request body is larger than {settings.max_body_bytes} bytes; send a shorter message"},
                status_code=413,
            )
        return await call_next(request)

    for module in (health, search, knowledge, chat, roleplay):
        app.include_router(module.router)
    if settings.trainer_routes:
        app.include_router(trainer.router)
    if settings.slack_enabled:
        app.include_router(slack.router)
    web.install(app, settings)
    return app

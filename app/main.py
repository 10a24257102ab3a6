"""create_app(): assemble the routers; the lifespan builds the heavy objects once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import __version__, web
from app.api import bases, chat, enrichment, health, knowledge, metrics, roleplay, scenarios, search, slack, trainer
from app.api.middleware import BodyLimit, NoNulInURL, RateLimit, SecurityHeaders
from app.config import Settings, get_settings
from app.container import build_container
from app.errors import install_error_handlers
from app.knowledge.reload import IndexWatcher

log = logging.getLogger("app")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the FastAPI application."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = build_container(settings)
        app.state.container = container
        app.state.slack = slack.build_slack(container)
        watcher = IndexWatcher(container, settings.index_poll_s).start()  # serves new builds after `coach ingest`
        try:
            yield
        finally:
            watcher.stop()
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

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes,
                       uploads={"/trainer/knowledge/import": settings.max_import_bytes + 64 * 1024})
    app.add_middleware(NoNulInURL)
    if settings.rate_limit_per_minute:
        app.add_middleware(RateLimit, per_minute=settings.rate_limit_per_minute)
    app.add_middleware(SecurityHeaders)  # every response gets them, errors included
    app.state.metrics = metrics.Metrics()
    app.add_middleware(metrics.MetricsMiddleware, metrics=app.state.metrics)  # outermost: times everything

    for module in (health, metrics, search, knowledge, chat, roleplay):
        app.include_router(module.router)
    if settings.trainer_routes:
        app.include_router(trainer.router)
        app.include_router(trainer.reports)
        app.include_router(enrichment.router)
        app.include_router(bases.router)
        app.include_router(scenarios.router)
    if settings.slack_enabled:
        app.include_router(slack.router)
    web.install(app, settings)
    return app

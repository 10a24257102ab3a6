"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import ContainerDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Report that the process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(container: ContainerDep) -> JSONResponse:
    """Report whether the index is loaded and non-empty, and which optional parts are on."""
    settings = container.settings
    body = {
        "status": "ready" if container.index is not None else "not_ready",
        "index": {
            "loaded": container.index is not None,
            "chunks": len(container.index) if container.index is not None else 0,
            "build": container.index.build if container.index is not None else None,
            "error": container.index_error,
        },
        "embedder": container.embedder.name,
        "llm": settings.llm,
        "slack": "on" if settings.slack_enabled else "off: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN",
        "trainer_routes": "on" if settings.trainer_routes else "off",
    }
    return JSONResponse(body, status_code=200 if container.index is not None else 503)

"""Dependencies that hand the lifespan-built objects to handlers (tests swap them via dependency_overrides)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.config import Settings
from app.container import Container
from app.knowledge.retriever import Retriever


def get_container(request: Request) -> Container:
    """Return the container built in the lifespan."""
    container: Container = request.app.state.container
    return container


def get_retriever(request: Request) -> Retriever:
    """Return the retriever, or fail with 503 when the index is not built."""
    return get_container(request).require_retriever()


def get_settings_dep(request: Request) -> Settings:
    """Return the app's settings."""
    return get_container(request).settings


ContainerDep = Annotated[Container, Depends(get_container)]
RetrieverDep = Annotated[Retriever, Depends(get_retriever)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]

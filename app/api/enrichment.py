"""Review generated enrichment over the API (trainer bearer token): list it, and save a trainer's version."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from app.api.deps import ContainerDep
from app.api.strict import StrictJSONRoute
from app.api.trainer import TRAINER_ERRORS, require_trainer
from app.errors import error_responses

router = APIRouter(prefix="/v1/knowledge/enrichment", tags=["knowledge"], dependencies=[Depends(require_trainer)],
                   route_class=StrictJSONRoute, responses=TRAINER_ERRORS)


class EnrichmentEdit(BaseModel):
    """A trainer's search phrases, do / avoid and "say" lines for one item."""

    hints: str = Field(default="", max_length=4000)
    do: str = Field(min_length=1, max_length=1000)
    avoid: str = Field(default="", max_length=1000)
    say: str = Field(default="", max_length=1000)


@router.get("")
def list_enrichment(container: ContainerDep) -> list[dict[str, Any]]:
    """Every item whose enrichment a model wrote ("generated") or a trainer edited ("reviewed")."""
    from app.knowledge.review import enrichment_rows

    return enrichment_rows(container)


@router.put("/{item_id}/{lang}", responses=error_responses(404))
def edit_enrichment(
    item_id: Annotated[str, Path(max_length=128)], lang: Annotated[str, Path(pattern="^(zh|en)$")],
    edit: EnrichmentEdit, container: ContainerDep,
) -> dict[str, Any]:
    """Save a trainer's version (the item is marked reviewed, and keeps it at every later ingest); re-index now."""
    from app.knowledge.review import review_item

    return review_item(container, item_id, lang, edit.model_dump())

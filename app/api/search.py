"""POST /v1/search: ranked standards for a question."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.deps import ContainerDep
from app.api.kb import KbDep
from app.api.strict import StrictJSONRoute
from app.errors import error_responses
from app.limits import QueryText

router = APIRouter(prefix="/v1", tags=["search"], route_class=StrictJSONRoute,
                   responses=error_responses(400, 413, 429, 503))


class SearchRequest(BaseModel):
    """A search over the knowledge base."""

    query: QueryText = Field(description="The rep's question, in Chinese or English.")
    k: int = Field(default=5, ge=1, le=50)
    stage: int | None = Field(default=None, ge=1, le=6)
    kind: Literal["standard", "caution", "intro", "playbook"] | None = None
    lang: Literal["zh", "en"] | None = None


class SearchHit(BaseModel):
    """One ranked item."""

    id: str
    stage: int
    kind: str
    title: str
    text: str
    lang: str
    score: float


class SearchResponse(BaseModel):
    """Items best first."""

    hits: list[SearchHit]


@router.post("/search")
def search(body: SearchRequest, container: ContainerDep, kb: KbDep) -> SearchResponse:
    """Return the items that best answer the query, in the query's language unless `lang` is given."""
    retriever = container.require_retriever(kb)
    hits = retriever.search(body.query, k=body.k, stage=body.stage, kind=body.kind, lang=body.lang)
    return SearchResponse(hits=[SearchHit(**h.public()) for h in hits])

"""Browse the standards: GET /v1/knowledge/items and /v1/knowledge/items/{id}."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from app.api.deps import ContainerDep
from app.api.kb import KbDep
from app.api.strict import StrictJSONRoute
from app.errors import NotFoundError, error_responses
from app.knowledge.index import Chunk

router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"], route_class=StrictJSONRoute,
                   responses=error_responses(400, 429, 503))


class ItemText(BaseModel):
    """An item's title and text in one language."""

    title: str
    text: str
    do: str
    avoid: str
    # "generated": do / avoid (and the search phrases) were written by an LLM at ingest; "reviewed": then edited by
    # a trainer; "": written in the knowledge file.
    generated: str = ""


class KnowledgeItem(BaseModel):
    """One standard, caution, intro or playbook section in every language it exists in."""

    id: str
    stage: int
    stage_title: dict[str, str]
    kind: str
    source: str
    langs: dict[str, ItemText]


class KnowledgeItems(BaseModel):
    """All items in document order."""

    items: list[KnowledgeItem]


def _order(item_id: str) -> tuple[int, int, int, str]:
    parts = item_id.split(".")
    if len(parts) > 2 and parts[1][:1] == "s" and parts[1][1:].isdigit():  # an imported document's prefix
        parts = parts[1:]
    if parts[0].startswith("s") and parts[0][1:].isdigit():
        kind_order = {"intro": 0, "standard": 1, "caution": 2}.get(parts[1], 3)
        return int(parts[0][1:]), kind_order, int(parts[2]) if len(parts) > 2 else 0, ""
    return 99, 0, 0, item_id


def _assemble(chunks: list[Chunk]) -> KnowledgeItem:
    first = chunks[0]
    return KnowledgeItem(
        id=first.id, stage=first.stage, kind=first.kind, source=first.source.split(".")[0],
        stage_title={c.lang: c.stage_title for c in chunks},
        langs={c.lang: ItemText(title=c.title, text=c.text, do=c.do, avoid=c.avoid, generated=c.generated)
               for c in chunks},
    )


@router.get("/items")
def list_items(container: ContainerDep, kb: KbDep) -> KnowledgeItems:
    """Return every item, grouped by id, in document order."""
    grouped: dict[str, list[Chunk]] = {}
    for chunk in container.require_index(kb).chunks:
        grouped.setdefault(chunk.id, []).append(chunk)
    return KnowledgeItems(items=[_assemble(grouped[i]) for i in sorted(grouped, key=_order)])


@router.get("/items/{item_id}", responses=error_responses(404))
def get_item(item_id: str, container: ContainerDep, kb: KbDep) -> KnowledgeItem:
    """Return one item in both languages."""
    chunks = [c for c in container.require_index(kb).chunks if c.id == item_id]
    if not chunks:
        raise NotFoundError(
            f"Item {item_id!r} not found; ids look like 's4.caution.1' or 's2.intro', see GET /v1/knowledge/items"
        )
    return _assemble(chunks)

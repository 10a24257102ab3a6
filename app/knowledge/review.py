"""What the trainers' knowledge page and API do: import an uploaded document, list and edit generated enrichment."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.errors import BadRequestError, CoachError, NotFoundError
from app.knowledge.build import build_index
from app.knowledge.documents import load_knowledge
from app.knowledge.enrichment import reviewed_against, save_review, text_hash
from app.knowledge.importer import SUPPORTED, import_file

if TYPE_CHECKING:
    from app.container import Container


class UploadTooLargeError(CoachError):
    """The uploaded file is over COACH_MAX_IMPORT_BYTES."""

    status_code = 413


class UnsupportedTypeError(CoachError):
    """The uploaded file is not a type the importer reads."""

    status_code = 415


def import_upload(container: Container, data: bytes, filename: str, lang: str, write: bool) -> dict[str, Any]:
    """Import an uploaded document (preview, or write and re-index); return what was found for the page."""
    limit = container.settings.max_import_bytes
    name = filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    if not name.lower().endswith(SUPPORTED):
        raise UnsupportedTypeError(f"cannot import {name or 'a file without a name'!r}: send a .md, .txt, .docx or "
                                   ".pdf file")
    if len(data) > limit:
        raise UploadTooLargeError(f"the file is larger than {limit // (1024 * 1024)} MB (COACH_MAX_IMPORT_BYTES); "
                                  "split the document or raise the limit")
    if not data.strip():
        raise BadRequestError(f"{name} is empty; send a document with text in it")
    knowledge = container.settings.knowledge_dir
    result, out = import_file(data, name, knowledge, None, lang, write=write)
    ingest = ""
    if write:
        report, enriched = build_index(container.settings, container.embedder, container.database)
        container.reload_index()
        ingest = "; ".join(s for s in (enriched.summary(), report.summary()) if s)
    return {"lines": result.report_lines(), "out": out.name, "written": write, "ingest": ingest,
            "items": len(result.items), "defects": len(result.defects)}


def enrichment_rows(container: Container) -> list[dict[str, Any]]:
    """Return every served item whose enrichment a model wrote (or a trainer reviewed), for review."""
    if container.index is None:
        return []
    reviewed = reviewed_against(container.database)
    items = {i.chunk_id: i for i in load_knowledge(container.settings.knowledge_dir)}
    rows = []
    for chunk in container.index.chunks:
        if not chunk.generated:
            continue
        source = items.get(chunk.chunk_id)
        seen = reviewed.get((chunk.id, chunk.lang))
        rows.append({
            "id": chunk.id, "lang": chunk.lang, "title": chunk.title, "text": chunk.text, "state": chunk.generated,
            "hints": chunk.hints, "do": chunk.do, "avoid": chunk.avoid, "say": chunk.say,
            "source_changed": bool(seen and source and seen != text_hash(source)),
        })
    return rows


def review_item(container: Container, item_id: str, lang: str, fields: dict[str, str]) -> dict[str, Any]:
    """Store a trainer's enrichment for an item (marked reviewed) and rebuild the index so it is served now."""
    item = next((i for i in load_knowledge(container.settings.knowledge_dir)
                 if i.id == item_id and i.lang == lang), None)
    if item is None:
        raise NotFoundError(f"item {item_id!r} in {lang!r} not found; see GET /v1/knowledge/enrichment")
    if not fields.get("do", "").strip():
        raise BadRequestError("'do' must not be empty: say what the rep should do")
    save_review(container.database, item, fields)
    build_index(container.settings, container.embedder, container.database)
    container.reload_index()
    return next(r for r in enrichment_rows(container) if r["id"] == item_id and r["lang"] == lang)

"""One ingest for the CLI and the web app: parse knowledge/, add generated or reviewed enrichment, index."""

from __future__ import annotations

import threading

from app.config import Settings
from app.db import Database
from app.knowledge.documents import load_knowledge
from app.knowledge.embedder import Embedder
from app.knowledge.enrichment import EnrichmentReport, enrich, model_key
from app.knowledge.index import IngestReport, ingest

# Two ingests in one process (two trainers uploading at once) take turns; the index swap itself is atomic.
_lock = threading.Lock()


def build_index(
    settings: Settings, embedder: Embedder, database: Database | None = None, progress: bool = False
) -> tuple[IngestReport, EnrichmentReport]:
    """Parse the knowledge folder, enrich items that have no enrichment (with an LLM configured), and ingest."""
    from app.coaching.providers import make_chat_model

    items = load_knowledge(settings.knowledge_dir)
    own = database is None
    db = database or Database(settings.db_url)
    try:
        model = make_chat_model(settings)
        key = model_key(settings.llm, settings.llm_model, settings.prompts_dir) if model is not None else ""
        with _lock:
            items, enriched = enrich(items, db, model, key, settings.prompts_dir)
            report = ingest(items, settings.index_dir, embedder, progress=progress, cache_dir=settings.cache_dir)
    finally:
        if own:
            db.close()
    return report, enriched

"""Build the heavy objects once (embedder, index, retriever, database, services) for the app or the CLI."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.config import Settings
from app.db import Database
from app.errors import CoachError, IndexNotReadyError
from app.knowledge.bases import DEFAULT, KnowledgeBases
from app.knowledge.embedder import Embedder, make_embedder
from app.knowledge.index import KnowledgeIndex
from app.knowledge.retriever import Retriever
from app.text import warm_up_tokenizer

if TYPE_CHECKING:
    from app.coaching.service import ChatService
    from app.roleplay.service import RoleplayService
    from app.training.service import TrainingService

log = logging.getLogger(__name__)


@dataclass
class Container:
    """Everything a request handler or CLI command needs, built once."""

    settings: Settings
    embedder: Embedder
    database: Database
    index: KnowledgeIndex | None = None
    retriever: Retriever | None = None
    index_error: str | None = None
    bases: KnowledgeBases = field(init=False)
    # The services, built by build_container once the index is (or is not) loaded.
    chat: ChatService = field(init=False)
    roleplay: RoleplayService = field(init=False)
    training: TrainingService = field(init=False)

    def require_index(self, kb: str = DEFAULT) -> KnowledgeIndex:
        """Return a knowledge base's loaded index, or raise a 503 that says how to build it."""
        if kb != DEFAULT:
            return self.bases.retriever(kb, self.embedder).index
        if self.index is None:
            raise IndexNotReadyError(self.index_error or "the knowledge index is not loaded; run `coach ingest`")
        return self.index

    def require_retriever(self, kb: str = DEFAULT) -> Retriever:
        """Return a knowledge base's retriever, or raise a 503 that says how to build its index."""
        if kb != DEFAULT:
            return self.bases.retriever(kb, self.embedder)
        self.require_index()
        assert self.retriever is not None  # set together with the index
        return self.retriever

    def reload_index(self) -> None:
        """(Re)open the current index build; on failure keep serving what was loaded and record why."""
        try:
            index = KnowledgeIndex(self.settings.index_dir, self.embedder)
        except CoachError as exc:
            self.index_error = exc.message
            log.warning("knowledge index not loaded: %s", exc.message)
            return
        if len(index) == 0:
            self.index_error = "the knowledge index is empty; add Markdown to knowledge/ and run `coach ingest`"
            return
        from app.coaching.understanding import Understanding

        old = self.index
        situation = Understanding(self.embedder).situation
        self.index, self.retriever, self.index_error = index, Retriever(index, situation), None
        if old is not None:
            old.close()

    def close(self) -> None:
        """Release files, threads and connections."""
        if hasattr(self, "roleplay"):
            self.roleplay.close()
        if self.index is not None:
            self.index.close()
        self.bases.close()
        self.database.close()


def build_container(settings: Settings, roleplay: bool = True) -> Container:
    """Load the embedder, the index (if built) and the database; without `roleplay`, skip its detector."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    warm_up_tokenizer()
    container = Container(
        settings=settings,
        embedder=make_embedder(settings.embedder, settings.embed_threads),
        database=Database(settings.db_url),
    )
    container.bases = KnowledgeBases(container.database, settings)
    container.reload_index()
    from app.coaching.service import ChatService
    from app.roleplay.service import RoleplayService

    container.chat = ChatService(container)
    if roleplay:
        from app.training.service import TrainingService

        container.roleplay = RoleplayService(container)
        container.training = TrainingService(container)
    return container

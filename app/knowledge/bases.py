"""Named knowledge bases: one per team with its own standards, and who (Slack, web user) is served which.

`default` is the knowledge folder the service has always served (COACH_KNOWLEDGE_DIR, index under data/index), so
a single-team installation never sees any of this. Other bases are registered in the database with the folder of
their Markdown (`coach kb add retail /path/to/folder`); each is ingested into its own index (its own Chroma
folder and collections, its own lexical ranking) under data/kb/<name>/index, and may carry its own role-play
scenarios (<folder>/scenarios/*.yaml) and a standards map (<folder>/standards-map.yaml) that says which of its
items the role-play coach's moves are judged against. Mappings (a Slack workspace or channel, a web user) live in
the database too, so every process serves the same base to the same person.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy import DateTime, String, Text, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Database, utcnow
from app.errors import BadRequestError, CoachError, IndexNotReadyError, NotFoundError
from app.knowledge.names import DEFAULT, KINDS

if TYPE_CHECKING:
    from app.config import Settings
    from app.knowledge.embedder import Embedder
    from app.knowledge.index import IngestReport, KnowledgeIndex
    from app.knowledge.retriever import Retriever

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
STANDARDS_MAP = "standards-map.yaml"


class UnknownKnowledgeBaseError(BadRequestError):
    """A request names a knowledge base that is not registered."""


class KnowledgeBaseError(CoachError):
    """A knowledge base's files are unusable; the message names the file."""

    status_code = 500


class KnowledgeBaseRow(Base):
    """A registered knowledge base other than `default`: its name and the folder of its Markdown."""

    __tablename__ = "knowledge_bases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    folder: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class KnowledgeBaseMapping(Base):
    """Who is served which base: a Slack workspace or channel, or a user."""

    __tablename__ = "knowledge_base_mappings"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    kb: Mapped[str] = mapped_column(String(40), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class KnowledgeBase:
    """Where one base's documents, scenarios and index live."""

    name: str
    folder: Path
    index_dir: Path

    @property
    def scenarios_dir(self) -> Path:
        """Return the folder of this base's role-play scenarios."""
        return self.folder / "scenarios"

    def public(self) -> dict[str, str]:
        """Return what the admin API and CLI show."""
        return {"name": self.name, "folder": str(self.folder)}


def check_name(name: str) -> str:
    """Return `name` if it can name a knowledge base, else raise a 400 saying what a name looks like."""
    if not NAME.match(name):
        raise BadRequestError(
            f"knowledge base name {name[:60]!r} is not valid: use 1-40 lowercase letters, digits or '-', "
            "starting with a letter or digit (e.g. 'retail-eu')"
        )
    return name


def read_standards_map(folder: Path) -> dict[str, str] | None:
    """Return this base's map from the role-play coach's standard ids to its own items (None: no file)."""
    path = folder / STANDARDS_MAP
    if not path.exists():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise KnowledgeBaseError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise KnowledgeBaseError(
            f"{path} must map standard ids to this base's item ids, e.g. 's4.caution.1: s2.caution.1'")
    return dict(data)


class KnowledgeBases:
    """The registry of bases and mappings (in the database), and the loaded index of each base in this process."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self._loaded: dict[str, tuple[str, KnowledgeIndex, Retriever]] = {}
        self._lock = threading.Lock()

    # -- the registry ----------------------------------------------------------------------------------------

    def default(self) -> KnowledgeBase:
        """Return the base the service has always served."""
        return KnowledgeBase(DEFAULT, self.settings.knowledge_dir, self.settings.index_dir)

    def _base(self, name: str, folder: str) -> KnowledgeBase:
        return KnowledgeBase(name, Path(folder), self.settings.data_dir / "kb" / name / "index")

    def get(self, name: str) -> KnowledgeBase:
        """Return a base by name, or raise a 400 naming the bases there are."""
        if name == DEFAULT:
            return self.default()
        with self.database.session() as s:
            row = s.get(KnowledgeBaseRow, name) if NAME.match(name) else None
            if row is not None:
                return self._base(row.name, row.folder)
        raise UnknownKnowledgeBaseError(
            f"knowledge base {name[:60]!r} not found; known: {', '.join(self.names())} (see `coach kb list`)"
        )

    def names(self) -> list[str]:
        """Return every base's name, `default` first."""
        with self.database.session() as s:
            return [DEFAULT, *s.scalars(select(KnowledgeBaseRow.name).order_by(KnowledgeBaseRow.name))]

    def all(self) -> list[KnowledgeBase]:
        """Return every base, `default` first."""
        with self.database.session() as s:
            rows = list(s.scalars(select(KnowledgeBaseRow).order_by(KnowledgeBaseRow.name)))
            return [self.default(), *(self._base(r.name, r.folder) for r in rows)]

    def add(self, name: str, folder: Path) -> KnowledgeBase:
        """Register a base whose Markdown is in `folder` (build it with `coach ingest --kb NAME`)."""
        check_name(name)
        if name == DEFAULT:
            raise BadRequestError("'default' is the knowledge base in COACH_KNOWLEDGE_DIR; pick another name")
        folder = folder.expanduser().resolve()
        if not folder.is_dir() or not any(folder.glob("*.md")):
            raise BadRequestError(f"folder {folder} has no Markdown standards (*.md); write or import them first")
        with self.database.session() as s:
            if s.get(KnowledgeBaseRow, name) is not None:
                raise BadRequestError(f"knowledge base {name!r} exists; remove it first to point it elsewhere")
            s.add(KnowledgeBaseRow(name=name, folder=str(folder)))
        return self._base(name, str(folder))

    def remove(self, name: str) -> None:
        """Unregister a base and its mappings (its folder and built index stay on disk)."""
        if name == DEFAULT:
            raise BadRequestError("the default knowledge base cannot be removed")
        self.get(name)
        with self.database.session() as s:
            s.execute(delete(KnowledgeBaseMapping).where(KnowledgeBaseMapping.kb == name))
            s.execute(delete(KnowledgeBaseRow).where(KnowledgeBaseRow.name == name))
        with self._lock:
            self._drop(name)

    # -- who is served which base ----------------------------------------------------------------------------

    def map(self, kind: str, key: str, kb: str) -> None:
        """Serve base `kb` to a Slack workspace or channel, or a user (replacing any earlier mapping)."""
        _check_kind(kind)
        key = key.strip()
        if not key or len(key) > 200:
            raise BadRequestError("the mapping key must be 1-200 characters (a Slack team id, team:channel, or user)")
        self.get(kb)
        with self.database.session() as s:
            row = s.get(KnowledgeBaseMapping, (kind, key))
            if row is None:
                s.add(KnowledgeBaseMapping(kind=kind, key=key, kb=kb))
            else:
                row.kb = kb

    def unmap(self, kind: str, key: str) -> None:
        """Remove a mapping; the Slack workspace, channel or user is then served `default`."""
        _check_kind(kind)
        with self.database.session() as s:
            row = s.get(KnowledgeBaseMapping, (kind, key))
            if row is None:
                raise NotFoundError(f"no {kind} mapping for {key[:60]!r}; see `coach kb mappings`")
            s.delete(row)

    def mappings(self, kb: str | None = None) -> list[dict[str, str]]:
        """Return every mapping (or one base's), by kind and key."""
        query = select(KnowledgeBaseMapping).order_by(KnowledgeBaseMapping.kind, KnowledgeBaseMapping.key)
        if kb is not None:
            query = query.where(KnowledgeBaseMapping.kb == kb)
        with self.database.session() as s:
            return [{"kind": r.kind, "key": r.key, "kb": r.kb} for r in s.scalars(query)]

    def _mapped(self, pairs: list[tuple[str, str]]) -> str:
        with self.database.session() as s:
            for kind, key in pairs:
                row = s.get(KnowledgeBaseMapping, (kind, key))
                if row is not None:
                    return row.kb
        return DEFAULT

    def for_slack(self, team: str, channel: str | None) -> str:
        """Return the base a Slack channel is served: its own mapping, else its workspace's, else `default`."""
        pairs = [("slack_channel", f"{team}:{channel}")] if channel else []
        return self._mapped([*pairs, ("slack_team", team)])

    def for_user(self, user: str) -> str:
        """Return the base a web or API user is served (`default` unless mapped)."""
        return self._mapped([("user", user)])

    # -- loaded indexes --------------------------------------------------------------------------------------

    def retriever(self, name: str, embedder: Embedder) -> Retriever:
        """Return the retriever over a non-default base's current build, (re)loading it when a new one is in."""
        from app.knowledge.index import KnowledgeIndex, current_build
        from app.knowledge.retriever import Retriever

        base = self.get(name)
        build = current_build(base.index_dir)
        if build is None:
            raise IndexNotReadyError(f"knowledge base {name!r} has no index yet; run `coach ingest --kb {name}`")
        with self._lock:
            loaded = self._loaded.get(name)
            if loaded is not None and loaded[0] == build.name:
                return loaded[2]
            index = KnowledgeIndex(base.index_dir, embedder)
            # The learned situation model knows the default base's items only: another base ranks without it.
            retriever = Retriever(index, None)
            self._drop(name)
            self._loaded[name] = (index.build, index, retriever)
            return retriever

    def _drop(self, name: str) -> None:
        loaded = self._loaded.pop(name, None)
        if loaded is not None:
            loaded[1].close()

    def close(self) -> None:
        """Release every loaded index."""
        with self._lock:
            for name in list(self._loaded):
                self._drop(name)


def ingest_base(base: KnowledgeBase, embedder: Embedder, settings: Settings, progress: bool = False) -> IngestReport:
    """Parse one base's folder and bring its index in line with it."""
    from app.knowledge.documents import load_knowledge
    from app.knowledge.index import ingest

    items = load_knowledge(base.folder)
    return ingest(items, base.index_dir, embedder, progress=progress, cache_dir=settings.cache_dir)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise BadRequestError(f"mapping kind must be one of {', '.join(KINDS)}, not {kind[:40]!r}")


def describe(bases: KnowledgeBases, base: KnowledgeBase) -> dict[str, Any]:
    """Return a base with its build and mappings, for `coach kb list` and GET /v1/kb."""
    from app.knowledge.index import current_build

    build = current_build(base.index_dir)
    return {**base.public(), "build": build.name if build else None,
            "mappings": [{"kind": m["kind"], "key": m["key"]} for m in bases.mappings(base.name)]}

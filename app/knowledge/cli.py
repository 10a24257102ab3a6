"""`coach kb ...`: register knowledge bases and map Slack workspaces, channels and users to them."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.knowledge.names import DEFAULT, KINDS

if TYPE_CHECKING:
    from app.knowledge.bases import KnowledgeBases

kb_cli = typer.Typer(help="Knowledge bases: one per team with its own standards.", no_args_is_help=True)
KIND_HELP = f"What is mapped: {', '.join(KINDS)}."
KEY_HELP = "Slack team id (T0123), team id:channel id (T0123:C0456), or the web user's name."


def register(cli: Any) -> None:
    """Add `coach kb` to the `coach` CLI."""
    cli.add_typer(kb_cli, name="kb")


@contextmanager
def _bases() -> Iterator[KnowledgeBases]:
    from app.cli import _settings
    from app.db import Database
    from app.knowledge.bases import KnowledgeBases

    settings = _settings()
    database = Database(settings.db_url)
    try:
        yield KnowledgeBases(database, settings)
    finally:
        database.close()


@kb_cli.command("list")
def list_bases(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the knowledge bases, their folders, builds and mappings."""
    from app.knowledge.bases import describe

    with _bases() as bases:
        rows = [describe(bases, base) for base in bases.all()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        build = row["build"] or "not built: run `coach ingest --kb " + row["name"] + "`"
        typer.echo(f"{row['name']}\t{row['folder']}\t{build}")
        for m in row["mappings"]:
            typer.echo(f"  {m['kind']} {m['key']}")


@kb_cli.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The base's name: lowercase letters, digits, '-'.")],
    folder: Annotated[Path, typer.Argument(help="The folder of its Markdown standards (and scenarios/).")],
    build: Annotated[bool, typer.Option("--build/--no-build", help="Ingest it now.")] = True,
) -> None:
    """Register a knowledge base and (by default) build its index."""
    with _bases() as bases:
        base = bases.add(name, folder)
        typer.echo(f"added knowledge base {base.name!r} from {base.folder}")
        if build:
            _ingest(bases, base.name)


@kb_cli.command("remove")
def remove(name: str) -> None:
    """Unregister a knowledge base and its mappings (its folder and index stay on disk)."""
    with _bases() as bases:
        bases.remove(name)
    typer.echo(f"removed knowledge base {name!r}; what was mapped to it is served {DEFAULT!r}")


@kb_cli.command("map")
def map_(
    kind: Annotated[str, typer.Argument(help=KIND_HELP)],
    key: Annotated[str, typer.Argument(help=KEY_HELP)],
    name: Annotated[str, typer.Argument(help="The knowledge base to serve.")],
) -> None:
    """Serve a knowledge base to a Slack workspace, a Slack channel or a user."""
    with _bases() as bases:
        bases.map(kind, key, name)
    typer.echo(f"{kind} {key} -> {name}")


@kb_cli.command("unmap")
def unmap(kind: Annotated[str, typer.Argument(help=KIND_HELP)],
          key: Annotated[str, typer.Argument(help=KEY_HELP)]) -> None:
    """Remove a mapping (the workspace, channel or user is served `default` again)."""
    with _bases() as bases:
        bases.unmap(kind, key)
    typer.echo(f"{kind} {key} -> {DEFAULT}")


@kb_cli.command("mappings")
def mappings(name: Annotated[str | None, typer.Argument(help="Only this base's mappings.")] = None) -> None:
    """List who is served which knowledge base."""
    with _bases() as bases:
        if name is not None:
            bases.get(name)
        for m in bases.mappings(name):
            typer.echo(f"{m['kind']}\t{m['key']}\t{m['kb']}")


def _ingest(bases: KnowledgeBases, name: str) -> None:
    from app.knowledge.bases import ingest_base
    from app.knowledge.embedder import make_embedder

    settings = bases.settings
    embedder = make_embedder(settings.embedder, settings.embed_threads, lazy=True)
    base = bases.get(name)
    typer.echo(f"building knowledge base {name!r} from {base.folder}", err=True)
    report = ingest_base(base, embedder, settings, progress=sys.stderr.isatty())
    typer.echo(f"{name}: {report.summary()}")


def ingest_others(only: str | None, if_missing: bool) -> None:
    """Build every registered base other than `default` (or only `only`), for `coach ingest`."""
    from app.knowledge.index import current_build

    with _bases() as bases:
        names = [only] if only is not None else [b.name for b in bases.all() if b.name != DEFAULT]
        for name in names:
            if if_missing and current_build(bases.get(name).index_dir) is not None:
                continue
            _ingest(bases, name)

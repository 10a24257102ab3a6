"""The `coach` command: ingest, migrate, serve, search, ask, chat, roleplay, eval, bench."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from app import __version__
from app.config import ROOT, Settings, describe_error

if TYPE_CHECKING:
    from app.client import ServiceClient

cli = typer.Typer(help="Sales Coach: grounded coaching answers and role-play practice.", no_args_is_help=True)
eval_cli = typer.Typer(help="Measure retrieval, answers and role-play against labelled data.", no_args_is_help=True)
cli.add_typer(eval_cli, name="eval")


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        typer.secho(f"configuration error: {describe_error(exc)}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"coach (sales-coach) {__version__}")
        raise typer.Exit()


@cli.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Sales Coach: grounded coaching answers and role-play practice."""


def _service(settings: Settings) -> ServiceClient | None:
    """Return a client of the running service (COACH_URL), or None to work in-process."""
    from app.client import ServiceClient

    return ServiceClient.find(settings.url, timeout_s=settings.llm_timeout_s + 10)


@cli.command()
def ingest(
    if_missing: Annotated[bool, typer.Option("--if-missing", help="Only build when there is no index yet.")] = False,
    kb: Annotated[str | None, typer.Option("--kb", help="Only this knowledge base (see `coach kb list`).")] = None,
) -> None:
    """Parse knowledge/ (and every registered knowledge base), embed what changed and swap in the new indexes."""
    from app.knowledge.build import build_index
    from app.knowledge.cli import ingest_others

    if kb is not None and kb != "default":
        ingest_others(kb, if_missing)
        return
    from app.knowledge.embedder import make_embedder
    from app.knowledge.index import current_build, ingest_threads

    settings = _settings()
    # Models load on first use: an unchanged knowledge base, or one the cache already knows, loads none.
    embedder = make_embedder(settings.embedder, settings.embed_threads, lazy=True, threads_for=ingest_threads())
    if if_missing and current_build(settings.index_dir) is not None:
        typer.echo(f"index present in {settings.index_dir}; skipping (run `coach ingest` to update it)")
    else:
        typer.echo(f"building the index from {settings.knowledge_dir}", err=True)
        report, enriched = build_index(settings, embedder, progress=sys.stderr.isatty())
        if enriched.summary():
            typer.echo(enriched.summary())
        typer.echo(report.summary())
    if kb is None:
        ingest_others(None, if_missing)


@cli.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A standards document: .md, .txt, .docx or .pdf.")],
    out: Annotated[Path | None, typer.Option(help="Where to write (default: knowledge/<name>.<lang>.md).")] = None,
    lang: Annotated[str, typer.Option(help="The document's language: auto, en or zh.")] = "auto",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what was found; write nothing.")] = False,
) -> None:
    """Import a standards document: find its structure, repair scraped-web defects, write knowledge Markdown."""
    from app.knowledge.importer import import_file

    settings = _settings()
    if not file.is_file():
        typer.secho(f"error: {file} is not a file", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    result, target = import_file(file.read_bytes(), file.name, settings.knowledge_dir, out, lang, write=not dry_run)
    for line in result.report_lines():
        typer.echo(line)
    if dry_run:
        typer.echo(f"dry run: would write {target} ({len(result.items)} items)")
    else:
        typer.echo(f"wrote {target} ({len(result.items)} items); run `coach ingest` to index it")


@cli.command()
def migrate(
    new: Annotated[str | None, typer.Option("--new", metavar="MESSAGE", help="Write a revision for what the "
                                            "models changed (a developer's step) instead of upgrading.")] = None,
) -> None:
    """Bring the database (COACH_DATABASE_URL) to the newest schema; the service also does this at start-up."""
    from app import migrations

    if new is not None:
        written = migrations.new_revision(new)
        typer.echo(f"wrote {written.relative_to(ROOT)}: read it, then commit it" if written
                   else "the models match the newest revision; nothing to write")
        return
    from app.db import Database

    database = Database(_settings().db_url)  # opening a database migrates it
    try:
        typer.echo(f"database at revision {migrations.current(database.engine)} (the newest)")
    finally:
        database.close()


@cli.command()
def train(
    only: Annotated[list[str] | None, typer.Option(help="Train only these models (scope, qtype, situation, "
                                                          "techniques, facts, kind, stance).")] = None,
    save: Annotated[bool, typer.Option(help="Write the cross-validated report to evals/results/.")] = True,
) -> None:
    """Fit the shipped models (chat scope, question type, situations; role-play techniques, facts, kinds, stance)."""
    from app.knowledge.embedder import make_embedder
    from app.learn.train import train_all

    settings = _settings()
    embedder = make_embedder(settings.embedder, settings.embed_threads)
    typer.echo(f"training for embedder {embedder.name} (training texts are embedded once and cached)")
    report = train_all(embedder, settings.data_dir / "cache", set(only) if only else None)
    for name, table in report.items():
        if isinstance(table, dict):
            typer.echo(f"\n{name} (5-fold cross-validation on the training data)")
            for label, row in table.items():
                typer.echo(f"  {label:<18} " + "  ".join(f"{k}={v}" for k, v in row.items())
                           if isinstance(row, dict) else f"  {label:<18} {row}")
    if save:
        out = ROOT / "evals" / "results" / f"train-{embedder.name.replace('+', '_')}.json"
        if only and out.exists():  # a partial re-train keeps the other models' reports
            report = {**json.loads(out.read_text(encoding="utf-8")), **report}
        out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        typer.echo(f"saved {out.relative_to(ROOT)}")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the HTTP service with uvicorn."""
    settings = _settings()
    typer.echo(f"warming up: the models ({settings.embedder}), the index and the role-play detector...", err=True)
    import uvicorn

    from app.knowledge.embedder import make_embedder
    from app.main import create_app
    from app.roleplay.scenarios import load_scenarios

    # Fail here, in one line, rather than as a traceback from inside uvicorn's start-up; the models stay loaded.
    load_scenarios(settings.knowledge_dir / "scenarios")
    make_embedder(settings.embedder, settings.embed_threads)

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:
                typer.secho(f"serving at http://{host}:{port}  (API docs: /docs; Ctrl-C stops)",
                            fg=typer.colors.GREEN, bold=True, err=True)

    Server(uvicorn.Config(create_app(settings), host=host, port=port, log_level="info")).run()


@cli.command()
def search(
    query: Annotated[str, typer.Argument(help="A question in Chinese or English.")],
    k: Annotated[int, typer.Option(help="How many items.")] = 5,
    stage: Annotated[int | None, typer.Option(help="Only this stage (1-6).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    kb: Annotated[str, typer.Option("--kb", help="The knowledge base (see `coach kb list`).")] = "default",
) -> None:
    """Show the standards that best match a question (through the running service when there is one)."""
    settings = _settings()
    service = _service(settings)
    if service is not None:
        try:
            hits = service.search(query, k=k, stage=stage, kb=kb)
        finally:
            service.close()
    else:
        from app.container import build_container

        container = build_container(settings, roleplay=False)
        try:
            hits = [h.public() for h in container.require_retriever(kb).search(query, k=k, stage=stage)]
        finally:
            container.close()
    if as_json:
        typer.echo(json.dumps({"hits": hits}, ensure_ascii=False, indent=2))
        return
    for n, hit in enumerate(hits, start=1):
        typer.echo(f"{n}. " + typer.style(f"{hit['title']}", bold=True) + f"  [{hit['id']}]  ({hit['score']:.2f})")
        typer.echo(f"   {hit['text']}")


def _print_answer(result: dict[str, Any]) -> None:
    from app.coaching.render import render_answer

    typer.echo(render_answer(result))
    if result["status"] != "answered" or result["degraded"]:
        flags = result["status"] + (", degraded: the offline answer" if result["degraded"] else "")
        typer.secho(f"({flags})", dim=True)


@cli.command()
def ask(
    question: Annotated[str, typer.Argument(help="A question in Chinese or English.")],
    lang: Annotated[str | None, typer.Option(help="Answer in zh or en (default: the question's language).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
    kb: Annotated[str, typer.Option("--kb", help="The knowledge base (see `coach kb list`).")] = "default",
) -> None:
    """Ask the coach one question and print the answer with its citations."""
    settings = _settings()
    service = _service(settings)
    if service is not None:
        try:
            result = service.chat(question, lang=lang, kb=kb)
        finally:
            service.close()
    else:
        from app.container import build_container

        container = build_container(settings, roleplay=False)
        try:
            result = container.chat.answer(question, lang=lang, channel="cli", kb=kb).public()
        finally:
            container.close()
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        _print_answer(result)


@cli.command()
def chat() -> None:
    """Talk with the coach in the terminal; follow-ups keep their context. Empty line or Ctrl-D ends."""
    settings = _settings()
    service = _service(settings)
    container = None
    if service is None:
        from app.container import build_container

        container = build_container(settings, roleplay=False)
    conversation: str | None = None
    try:
        while True:
            try:
                question = input("you> ").strip()
            except EOFError:
                break
            if not question:
                break
            if service is not None:
                result = service.chat(question, conversation_id=conversation)
            else:
                assert container is not None
                result = container.chat.answer(question, conversation_id=conversation, channel="cli").public()
            conversation = result["conversation_id"]
            _print_answer(result)
            typer.echo("")
    finally:
        if service is not None:
            service.close()
        if container is not None:
            container.close()


@eval_cli.command("answers")
def eval_answers(
    files: Annotated[list[Path] | None, typer.Argument(help="JSONL question files.")] = None,
    probes: Annotated[Path, typer.Option(help="Off-topic / injection / unethical probes.")] = ROOT
    / "evals" / "chat-probes.jsonl",
    save: Annotated[bool, typer.Option(help="Write the result to evals/results/.")] = True,
) -> None:
    """Report citation hit rate, language match, out-of-scope/refusal P/R and latency of chat answers."""
    from app.container import build_container
    from app.evaluation.answers import evaluate, load_cases

    settings = _settings()
    files = files or [ROOT / "evals" / "retrieval-dev.jsonl", ROOT / "evals" / "retrieval-heldout.jsonl"]
    container = build_container(settings)
    try:
        container.chat.answer("warm-up question about pricing")
        raw: list[dict[str, object]] = []
        report = evaluate(container.chat, load_cases(files, probes), raw)
    finally:
        container.close()
    mode = "offline composer" if settings.llm == "none" else f"LLM ({settings.llm}:{settings.llm_model})"
    typer.echo(f"answers eval, {mode}, embedder {settings.embedder}")
    for key, value in report.items():
        if key != "failures":
            typer.echo(f"  {key:<26} {value}")
    for failure in report["failures"]:
        typer.echo(f"  miss: {json.dumps(failure, ensure_ascii=False)}")
    if save:
        name = "answers-offline.json" if settings.llm == "none" else f"answers-{settings.llm}.json"
        out = ROOT / "evals" / "results" / name
        payload = {"mode": mode, "datasets": [p.name for p in files] + [probes.name], **report}
        out.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        typer.echo(f"saved {out.relative_to(ROOT)}")
        if raw:  # the model's raw outputs, for review beside the numbers
            out.with_suffix(".raw.jsonl").write_text(
                "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in raw), encoding="utf-8")


@eval_cli.command("chat")
def eval_chat(
    files: Annotated[list[Path] | None, typer.Argument(help="JSONL chat sets (id, lang, text, scope, standards).")]
    = None,
    save: Annotated[bool, typer.Option(help="Write the result to evals/results/.")] = True,
    misses: Annotated[bool, typer.Option("--misses", help="List every wrong scope and citation miss.")] = False,
) -> None:
    """Scope precision/recall (not about selling, not covered, refused) and citation hits on realistic questions."""
    from app.container import build_container
    from app.evaluation.chat import evaluate_chat, load_chat_set

    settings = _settings()
    files = files or [ROOT / "evals" / "chat-blind.jsonl"]
    with tempfile.TemporaryDirectory() as tmp:
        # Eval questions go to a scratch database so they never reach the unanswered report.
        scratch = settings.model_copy(update={"database_url": f"sqlite:///{Path(tmp, 'eval.db').as_posix()}"})
        container = build_container(scratch)
        try:
            container.chat.answer("warm-up question about pricing")
            reports = {path.name: evaluate_chat(container.chat, load_chat_set(path)) for path in files}
        finally:
            container.close()
    mode = "offline composer" if settings.llm == "none" else f"LLM ({settings.llm}:{settings.llm_model})"
    for name, report in reports.items():
        typer.echo(f"{name}: {mode}, embedder {settings.embedder}")
        typer.echo(f"  {'group':<5} {'n':>4} {'not_sales P/R':>14} {'not_covered P/R':>16} {'refused P/R':>12} "
                   f"{'sales P/R':>10} {'cite hit':>8} {'1st=primary':>11} {'p50 ms':>7} {'p95 ms':>7}")
        for group, r in report.items():
            sc = r["scope"]

            def pr(scope: str, sc: dict = sc) -> str:
                return f"{sc[scope]['precision']:.2f}/{sc[scope]['recall']:.2f}"

            typer.echo(f"  {group:<5} {r['cases']:>4} {pr('not_sales'):>14} {pr('not_covered'):>16} "
                       f"{pr('refused'):>12} {pr('sales'):>10} {r['citation_hit_rate']!s:>8} "
                       f"{r['first_citation_is_primary']!s:>11} {r['latency_ms_p50']!s:>7} {r['latency_ms_p95']!s:>7}")
        if misses:
            for failure in report["all"]["failures"]:
                typer.echo(f"  miss: {json.dumps(failure, ensure_ascii=False)}")
        if save:
            out = ROOT / "evals" / "results" / f"chat-{Path(name).stem}.json"
            out.write_text(json.dumps({"mode": mode, "embedder": settings.embedder, **report}, indent=1,
                                      ensure_ascii=False) + "\n", encoding="utf-8")
            typer.echo(f"saved {out.relative_to(ROOT)}")


@eval_cli.command("retrieval")
def eval_retrieval(
    files: Annotated[list[Path] | None, typer.Argument(help="JSONL question files.")] = None,
    save: Annotated[bool, typer.Option(help="Write the result to evals/results/.")] = True,
    show_misses: Annotated[bool, typer.Option("--misses", help="List questions missed at rank 1.")] = False,
) -> None:
    """Report recall@1, recall@3 and MRR for our retriever and a naive LangChain pipeline."""
    from app.container import build_container
    from app.evaluation.retrieval import NaiveBaseline, format_table, load_questions, misses, score, slug
    from app.knowledge.documents import load_knowledge

    settings = _settings()
    files = files or [ROOT / "evals" / "retrieval-dev.jsonl"]
    container = build_container(settings)
    try:
        retriever = container.require_retriever()
        baseline = NaiveBaseline(load_knowledge(settings.knowledge_dir), container.embedder)
        for path in files:
            questions = load_questions(path)
            ours = lambda q: [h.id for h in retriever.search(q, k=5)]  # noqa: E731
            results = {"sales-coach": score(questions, ours), "naive": score(questions, baseline.rank)}
            typer.echo(f"\n{path.name}  (embedder {container.embedder.name})")
            typer.echo(format_table(results))
            if show_misses:
                for miss in misses(questions, ours):
                    typer.echo(f"  miss: {miss['q']}  expect {miss['expect']}  got {miss['got']}")
            if save:
                out = ROOT / "evals" / "results" / f"retrieval-{slug(path)}.json"
                out.parent.mkdir(parents=True, exist_ok=True)
                payload = {"dataset": path.name, "embedder": container.embedder.name, "results": results}
                out.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
                typer.echo(f"saved {out.relative_to(ROOT)}")
    finally:
        container.close()


@eval_cli.command("raw")
def eval_raw(
    files: Annotated[list[Path] | None, typer.Argument(help="JSONL question files.")] = None,
    probes: Annotated[Path, typer.Option(help="Off-topic / injection / unethical probes.")] = ROOT
    / "evals" / "chat-probes.jsonl",
    save: Annotated[bool, typer.Option(help="Write the result to evals/results/raw-text.json.")] = True,
) -> None:
    """Score retrieval and answers on knowledge/ as served and on a copy with every `> ` line removed."""
    from app.evaluation.raw import format_report, raw_text_eval

    settings = _settings()
    files = files or [ROOT / "evals" / "retrieval-dev.jsonl", ROOT / "evals" / "retrieval-heldout.jsonl"]
    report = raw_text_eval(settings, files, probes)
    removed = ", ".join(f"{name}: {n}" for name, n in report["removed_lines"].items())
    typer.echo(f"raw-text eval, embedder {settings.embedder}; enrichment lines removed: {removed}")
    typer.echo(format_report(report))
    if save:
        out = ROOT / "evals" / "results" / "raw-text.json"
        out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        typer.echo(f"saved {out.relative_to(ROOT)}")


@eval_cli.command("document")
def eval_document(
    document: Annotated[Path, typer.Argument(help="The standards text (.md, made into a .docx) or a .docx.")] = ROOT
    / "evals" / "doc2" / "retail-standards.md",
    questions: Annotated[Path, typer.Argument(help="JSONL: id, lang, question, expected (the document's labels).")]
    = ROOT / "evals" / "doc2" / "questions.jsonl",
    save: Annotated[bool, typer.Option(help="Write the result to evals/results/.")] = True,
    show_misses: Annotated[bool, typer.Option("--misses", help="List questions missed at rank 1.")] = False,
) -> None:
    """Import a second company's document through `coach import` and report R@1 / R@3 with no hand-written hints."""
    from app.evaluation.document import evaluate_document

    settings = _settings()
    report = evaluate_document(settings, document, questions)
    typer.echo(f"{report['document']}: {report['structure']}; embedder {report['embedder']}; "
               f"enrichment: {report['enrichment']}")
    for group, row in report["results"].items():
        typer.echo(f"  {group:<4} n={row['n']:<3} R@1 {row['recall@1']:.3f}  R@3 {row['recall@3']:.3f}")
    if show_misses:
        for miss in report["misses"]:
            typer.echo(f"  miss: {miss['q']}  expect {miss['expect']}  got {miss['got']}")
    if save:
        out = ROOT / "evals" / "results" / f"document-{document.parent.name}.json"
        out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        typer.echo(f"saved {out.relative_to(ROOT)}")


def _register_features() -> None:
    from app.knowledge.cli import register as register_kb
    from app.roleplay.cli import register as register_roleplay

    register_roleplay(cli, eval_cli)
    register_kb(cli)


_register_features()


def main() -> None:
    """Entry point of the `coach` script: project errors print their message, not a traceback."""
    from app.errors import CoachError, ConfigError

    try:
        cli()
    except ConfigError as exc:
        typer.secho(f"configuration error: {exc.message}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except CoachError as exc:
        typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
        sys.exit(1)
    except ValidationError as exc:
        typer.secho(f"configuration error: {describe_error(exc)}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()

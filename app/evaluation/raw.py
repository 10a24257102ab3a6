"""The raw-text evaluation: the same questions against the knowledge base as a company would bring it.

The eval copies the Markdown files of knowledge/ with every `> ` enrichment line removed (search hints, do,
avoid, say) and without the phrases trainers linked, builds an index of the copy in a temporary folder, and
scores retrieval and answers on both the enriched and the raw knowledge base with the same code.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.config import Settings
from app.evaluation.answers import evaluate, load_cases
from app.evaluation.retrieval import load_questions, score

ENRICHMENT_LINE = "> "


def strip_enrichment(source: Path, target: Path) -> dict[str, int]:
    """Copy every Markdown file of `source` into `target` without its `> ` lines; return lines removed per file."""
    target.mkdir(parents=True, exist_ok=True)
    removed: dict[str, int] = {}
    for path in sorted(source.glob("*.md")):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if not line.startswith(ENRICHMENT_LINE)]
        removed[path.name] = len(lines) - len(kept)
        (target / path.name).write_text("".join(kept), encoding="utf-8")
    return removed


def measure(settings: Settings, questions: list[Path], probes: Path | None) -> dict[str, Any]:
    """Return retrieval scores per question file and the answers report for the knowledge base in `settings`."""
    from app.container import build_container

    container = build_container(settings, roleplay=False)
    try:
        retriever = container.require_retriever()
        rank: Callable[[str], list[str]] = lambda q: [h.id for h in retriever.search(q, k=5)]  # noqa: E731
        retrieval = {path.name: score(load_questions(path), rank) for path in questions}
        container.chat.answer("warm-up question about pricing")
        answers = evaluate(container.chat, load_cases(questions, probes))
        answers.pop("failures")
        return {"retrieval": retrieval, "answers": answers, "situation_weight": retriever.situation_weight}
    finally:
        container.close()


def raw_text_eval(settings: Settings, questions: list[Path], probes: Path | None) -> dict[str, Any]:
    """Score the enriched knowledge base as served, then a stripped copy built in a temporary folder."""
    from app.knowledge.documents import load_knowledge
    from app.knowledge.embedder import make_embedder
    from app.knowledge.index import ingest

    enriched = measure(settings, questions, probes)
    with tempfile.TemporaryDirectory(prefix="coach-raw-") as tmp:
        knowledge, data = Path(tmp) / "knowledge", Path(tmp) / "data"
        removed = strip_enrichment(settings.knowledge_dir, knowledge)
        embedder = make_embedder(settings.embedder, settings.embed_threads, lazy=True)
        # The embedding cache is shared with the served index: re-running the eval embeds nothing new.
        ingest(load_knowledge(knowledge), data / "index", embedder, cache_dir=settings.cache_dir)
        raw_settings = settings.model_copy(update={"knowledge_dir": knowledge, "data_dir": data,
                                                   "database_url": None})
        raw = measure(raw_settings, questions, probes)
    return {"embedder": settings.embedder, "removed_lines": removed, "enriched": enriched, "raw": raw}


def format_report(report: dict[str, Any]) -> str:
    """Render the enriched and raw figures side by side, per question file and language."""
    lines = ["knowledge   file                      lang   n    R@1    R@3    MRR"]
    for name in ("enriched", "raw"):
        for dataset, groups in report[name]["retrieval"].items():
            for lang, row in groups.items():
                lines.append(f"{name:<11} {dataset:<25} {lang:<4} {row['n']:>3}  {row['recall@1']:.3f}  "
                             f"{row['recall@3']:.3f}  {row['mrr']:.3f}")
    lines.append("")
    keys = ("citation_hit_rate", "language_match", "out_of_scope_precision", "out_of_scope_recall",
            "refused_precision", "refused_recall", "latency_ms_p50")
    lines.append(f"{'answers':<26} {'enriched':>9} {'raw':>9}")
    for key in keys:
        lines.append(f"{key:<26} {report['enriched']['answers'][key]!s:>9} {report['raw']['answers'][key]!s:>9}")
    return "\n".join(lines)

"""Retrieval on a company's own document, imported the way a company would (a .docx through `coach import`),
with no hand-written enrichment: R@1 / R@3 per language on a question set written apart from the code."""

from __future__ import annotations

import io
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from app.config import Settings


def markdown_to_docx(text: str) -> bytes:
    """Write a Markdown-ish standards text as a Word document: # title, ## Heading 1, **bold lead** paragraphs."""
    import docx

    document = docx.Document()
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)$", line)
        if heading:
            level = len(heading.group(1))
            if level == 1:
                document.add_paragraph(heading.group(2), style="Title")
            else:
                document.add_heading(heading.group(2), level=level - 1)
            continue
        paragraph = document.add_paragraph()
        for n, piece in enumerate(re.split(r"\*\*(.+?)\*\*", line)):
            if piece:
                run = paragraph.add_run(piece.strip("*") if n % 2 == 0 and piece.startswith("*") else piece)
                run.bold = n % 2 == 1
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def evaluate_document(settings: Settings, document: Path, questions: Path) -> dict[str, Any]:
    """Import `document` as a .docx into a scratch knowledge base, index it, and score the questions."""
    from app.knowledge.build import build_index
    from app.knowledge.embedder import make_embedder
    from app.knowledge.importer import import_file
    from app.knowledge.index import KnowledgeIndex
    from app.knowledge.retriever import Retriever

    rows = [json.loads(line) for line in questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        knowledge = Path(tmp) / "knowledge"
        data = markdown_to_docx(document.read_text(encoding="utf-8")) if document.suffix == ".md" \
            else document.read_bytes()
        name = document.with_suffix(".docx").name
        imported, _ = import_file(data, name, knowledge, knowledge / "standards.en.md")
        by_label = {i.label.lower(): i.id for i in imported.items if i.label}
        scratch = settings.model_copy(update={"knowledge_dir": knowledge, "data_dir": Path(tmp) / "data",
                                              "database_url": f"sqlite:///{Path(tmp, 'eval.db').as_posix()}"})
        embedder = make_embedder(settings.embedder, settings.embed_threads)
        _, enriched = build_index(scratch, embedder)
        index = KnowledgeIndex(scratch.index_dir, embedder)
        try:
            retriever = Retriever(index)
            groups: dict[str, list[tuple[int, int]]] = {}
            misses = []
            for row in rows:
                expected = {by_label[e.lower()] for e in row["expected"]}
                got = [h.id for h in retriever.search(row["question"], k=3)]
                hit1, hit3 = int(got[:1] == [g for g in got[:1] if g in expected]), int(bool(expected & set(got)))
                for group in ("all", row["lang"]):
                    groups.setdefault(group, []).append((hit1, hit3))
                if not hit1:
                    misses.append({"id": row["id"], "q": row["question"], "expect": sorted(expected), "got": got})
        finally:
            index.close()
    results = {
        group: {"n": len(v), "recall@1": round(sum(a for a, _ in v) / len(v), 3),
                "recall@3": round(sum(b for _, b in v) / len(v), 3)}
        for group, v in groups.items()
    }
    return {"document": document.name, "questions": questions.name, "items": len(imported.items),
            "structure": imported.report_lines()[2], "embedder": embedder.name,
            "enrichment": enriched.summary() or "none (no LLM configured, no hand-written lines)",
            "results": results, "misses": misses}

"""Retrieval evaluation: recall@1, recall@3 and MRR per language, against a naive LangChain baseline."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.knowledge.documents import Item
from app.knowledge.embedder import Embedder

Ranker = Callable[[str], list[str]]


def load_questions(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL file of {"q", "lang", "expect"} questions."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            row = json.loads(line)
            if not row.get("q") or not row.get("expect"):
                raise ValueError(f"{path}:{n}: each line needs 'q' and 'expect'")
            rows.append(row)
    return rows


def score(questions: list[dict[str, Any]], rank: Ranker) -> dict[str, dict[str, float]]:
    """Return recall@1, recall@3 and MRR overall and per language."""
    groups: dict[str, list[tuple[float, float, float]]] = {"all": []}
    for row in questions:
        ranked = rank(row["q"])
        expect = set(row["expect"])
        first = next((i for i, item in enumerate(ranked) if item in expect), None)
        result = (
            float(first == 0),
            float(first is not None and first < 3),
            0.0 if first is None else 1.0 / (first + 1),
        )
        groups["all"].append(result)
        groups.setdefault(row.get("lang", "?"), []).append(result)
    return {
        name: {
            "n": len(rows),
            "recall@1": round(sum(r[0] for r in rows) / len(rows), 3),
            "recall@3": round(sum(r[1] for r in rows) / len(rows), 3),
            "mrr": round(sum(r[2] for r in rows) / len(rows), 3),
        }
        for name, rows in groups.items()
        if rows
    }


def misses(questions: list[dict[str, Any]], rank: Ranker, depth: int = 1) -> list[dict[str, Any]]:
    """Return the questions whose expected items are not in the top `depth`, with what came instead."""
    out = []
    for row in questions:
        ranked = rank(row["q"])
        if not set(row["expect"]) & set(ranked[:depth]):
            out.append({"q": row["q"], "expect": row["expect"], "got": ranked[:3]})
    return out


class NaiveBaseline:
    """The tutorial pipeline: split the plain document text into character windows, embed, take top-k chunks.

    Chunks are mapped back to the item ids whose text they contain, in order, so it is scored like ours.
    """

    def __init__(self, items: list[Item], embedder: Embedder, chunk_size: int = 500, overlap: int = 50) -> None:
        from langchain_chroma import Chroma
        from langchain_core.embeddings import Embeddings
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        class _LCEmbeddings(Embeddings):
            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                return [list(map(float, v)) for v in embedder.embed_documents(texts)]

            def embed_query(self, text: str) -> list[float]:
                return list(map(float, embedder.embed_query(text)))

        standards = [i for i in items if i.kind != "playbook"]
        documents = []
        self._spans: list[list[tuple[int, int, str]]] = []
        for lang in sorted({i.lang for i in standards}):
            text, spans = "", []
            for item in (i for i in standards if i.lang == lang):
                start = len(text)
                text += f"{item.title}：{item.text}\n\n" if lang == "zh" else f"{item.title}: {item.text}\n\n"
                spans.append((start, len(text), item.id))
            documents.append(text)
            self._spans.append(spans)
        splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=overlap, add_start_index=True)
        docs = splitter.create_documents(documents, metadatas=[{"doc": i} for i in range(len(documents))])
        self._dir = tempfile.TemporaryDirectory()
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        client = chromadb.PersistentClient(self._dir.name, settings=ChromaSettings(anonymized_telemetry=False))
        self._store = Chroma(
            collection_name="naive", embedding_function=_LCEmbeddings(), client=client,
            collection_metadata={"hnsw:space": "cosine"},
        )
        self._store.add_documents(docs)

    def rank(self, query: str, k: int = 5) -> list[str]:
        """Return item ids in order of the chunks that matched."""
        ranked: list[str] = []
        for doc in self._store.similarity_search(query, k=k):
            start = int(doc.metadata["start_index"])
            end = start + len(doc.page_content)
            # Within a chunk, the item it covers most comes first.
            overlaps = [
                (min(e, end) - max(s, start), item_id)
                for s, e, item_id in self._spans[int(doc.metadata["doc"])]
                if s < end and e > start
            ]
            for _, item_id in sorted(overlaps, key=lambda o: -o[0]):
                if item_id not in ranked:
                    ranked.append(item_id)
        return ranked


def format_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """Render {system: {group: metrics}} as a plain-text table."""
    lines = [f"{'system':<12} {'group':<6} {'n':>4} {'R@1':>6} {'R@3':>6} {'MRR':>6}"]
    for system, groups in results.items():
        for group, m in groups.items():
            lines.append(
                f"{system:<12} {group:<6} {int(m['n']):>4} {m['recall@1']:>6.3f} {m['recall@3']:>6.3f} {m['mrr']:>6.3f}"
            )
    return "\n".join(lines)


def slug(path: Path) -> str:
    """Return a file-name-safe name for a dataset path."""
    return re.sub(r"[^\w.-]+", "-", path.stem)

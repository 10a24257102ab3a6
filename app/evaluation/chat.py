"""`coach eval chat`: scope precision/recall and citation hits on realistic chat questions written apart."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from app.coaching.service import ChatService
from app.coaching.understanding import SCOPES
from app.text import detect_language


def load_chat_set(path: Path) -> list[dict[str, Any]]:
    """Read {"id", "lang", "text", "scope", "standards", "qtype"} rows."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        if row["scope"] not in SCOPES:
            raise ValueError(f"{path.name} {row.get('id')}: unknown scope {row['scope']!r}")
    return rows


def run_chat(service: ChatService, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ask every question in a fresh conversation and record what came back."""
    records = []
    for row in rows:
        started = time.perf_counter()
        result = service.answer(row["text"])
        records.append({
            **row, "got_scope": result.scope, "status": result.status, "cited": [c.id for c in result.citations],
            "answer_lang": detect_language(result.answer), "ms": (time.perf_counter() - started) * 1000,
            "answer": result.answer,
        })
    return records


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Scope precision/recall, citation hits on sales questions, answer language, latency, and the failures."""
    counts = {s: {"tp": 0, "fp": 0, "fn": 0} for s in SCOPES}
    failures = []
    for r in records:
        for scope, c in counts.items():
            c["tp"] += int(r["got_scope"] == scope and r["scope"] == scope)
            c["fp"] += int(r["got_scope"] == scope and r["scope"] != scope)
            c["fn"] += int(r["got_scope"] != scope and r["scope"] == scope)
        miss = r["scope"] == "sales" and not set(r["cited"]) & set(r["standards"])
        if miss or r["got_scope"] != r["scope"]:
            failures.append({k: r[k] for k in ("id", "lang", "text", "scope", "got_scope", "standards", "cited")})
    sales = [r for r in records if r["scope"] == "sales"]
    answered = [r for r in records if r["status"] == "answered"]
    latencies = sorted(r["ms"] for r in records)

    def pr(c: dict[str, int]) -> dict[str, float]:
        p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
        rec = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0
        return {"precision": round(p, 3), "recall": round(rec, 3), "support": c["tp"] + c["fn"]}

    def share(rows: list[dict[str, Any]], ok: Any) -> float | None:
        return round(sum(1 for r in rows if ok(r)) / len(rows), 3) if rows else None

    return {
        "cases": len(records),
        "scope": {scope: pr(c) for scope, c in counts.items()},
        "citation_hit_rate": share(sales, lambda r: set(r["cited"]) & set(r["standards"])),
        "first_citation_is_primary": share(sales, lambda r: r["cited"][:1] == r["standards"][:1]),
        "answer_language_match": share(answered, lambda r: r["answer_lang"] == r["lang"]),
        "latency_ms_p50": round(latencies[len(latencies) // 2], 1) if latencies else None,
        "latency_ms_p95": round(latencies[max(int(len(latencies) * 0.95) - 1, 0)], 1) if latencies else None,
        "failures": failures,
    }


def evaluate_chat(service: ChatService, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Evaluate all rows once; report them together and per language."""
    records = run_chat(service, rows)
    report = {"all": summarise(records)}
    for lang in sorted({r["lang"] for r in records}):
        report[lang] = summarise([r for r in records if r["lang"] == lang])
    return report

"""Calibrate the retrieval cascade on one question set and report it on others.

    python -m app.evaluation.cascade evals/retrieval-dev.jsonl evals/retrieval-heldout.jsonl

The first file calibrates the margin (the smallest at which the cascade keeps always-e5's R@1, R@3 and MRR on
it); every file then reports the share of queries that needed e5, the quality of cheap-only, always-e5 and the
cascade, and the latency of a search with and without the cascade. Writes evals/results/cascade.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.config import ROOT, Settings
from app.container import build_container
from app.evaluation.retrieval import Ranker, load_questions, score
from app.knowledge.cascade import CascadeRetriever
from app.knowledge.retriever import Retriever

METRICS = ("recall@1", "recall@3", "mrr")


@dataclass(frozen=True)
class Probe:
    """One question ranked both ways, and how far the cheap ranking's first item led."""

    row: dict[str, Any]
    lead: float
    cheap: list[str]
    full: list[str]


def probe(cascade: CascadeRetriever, rows: list[dict[str, Any]]) -> list[Probe]:
    """Rank every question with the cheap models only and with every model."""
    out = []
    for row in rows:
        query, lang = row["q"], row.get("lang", "en")
        cheap = cascade.embed_cheap(query)
        full = cascade.complete(query, cheap)
        out.append(Probe(
            row, cascade.lead(query, cheap),
            [h.id for h in cascade.search_vectors(query, cheap, k=5, lang=lang)],
            [h.id for h in cascade.search_vectors(query, full, k=5, lang=lang)],
        ))
    return out


def _ranked(probes: list[Probe], cheap: bool) -> Ranker:
    """Return a ranker that answers each probed question as the cheap (or the full) ranking did."""
    ranked = {p.row["q"]: (p.cheap if cheap else p.full) for p in probes}
    return lambda q: ranked[q]


def at_margin(probes: list[Probe], margin: float) -> tuple[dict[str, dict[str, float]], float]:
    """Return the cascade's scores at `margin` and the share of questions that needed e5."""
    ranked = {p.row["q"]: (p.cheap if p.lead >= margin else p.full) for p in probes}
    share = sum(p.lead < margin for p in probes) / len(probes)
    return score([p.row for p in probes], lambda q: ranked[q]), share


def calibrate(probes: list[Probe]) -> float:
    """Return the smallest margin at which the cascade scores no lower than always-e5 on every metric."""
    full = score([p.row for p in probes], _ranked(probes, cheap=False))["all"]
    candidates = sorted({round(p.lead, 4) for p in probes if p.lead != float("inf")})
    # A margin must hold at every larger candidate too, so one lucky skip does not pick it.
    best = (candidates[-1] + 1e-4) if candidates else 0.0
    for margin in reversed(candidates):
        scores, _ = at_margin(probes, margin)
        if all(scores["all"][m] >= full[m] for m in METRICS):
            best = margin
        else:
            break
    return best


def _latency(search: Any, rows: list[dict[str, Any]], repeats: int = 3) -> dict[str, float]:
    times = []
    for _ in range(repeats):
        for row in rows:
            t = time.perf_counter()
            search(row["q"], k=5)
            times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"p50_ms": round(times[len(times) // 2], 2), "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2)}


def main(paths: list[Path]) -> dict[str, Any]:
    """Calibrate on the first file, report on all, and save the result."""
    settings = Settings()
    container = build_container(settings, roleplay=False)
    try:
        base = container.require_retriever()
        cascade = (base if isinstance(base, CascadeRetriever)
                   else CascadeRetriever(base.index, base.situation, None))
        plain = Retriever(base.index, base.situation)
        sets = {path.name: load_questions(path) for path in paths}
        probes = {name: probe(cascade, rows) for name, rows in sets.items()}
        margin = calibrate(probes[paths[0].name])
        cascade.margin = margin
        report: dict[str, Any] = {"calibrated_on": paths[0].name, "margin": round(margin, 4),
                                  "embedder": container.embedder.name, "load_average": os.getloadavg()[0]}
        for name, rows in sets.items():
            got, share = at_margin(probes[name], margin)
            for row in rows[:5]:  # warm both paths
                cascade.search(row["q"])
                plain.search(row["q"])
            report[name] = {
                "share_needing_e5": round(share, 3),
                "cascade": got,
                "always_e5": score(rows, _ranked(probes[name], cheap=False)),
                "cheap_only": score(rows, _ranked(probes[name], cheap=True)),
                "latency_cascade": _latency(cascade.search, rows),
                "latency_always_e5": _latency(plain.search, rows),
                "load_average_after": round(os.getloadavg()[0], 2),
            }
    finally:
        container.close()
    return report


if __name__ == "__main__":
    files = [Path(a) for a in sys.argv[1:]] or [ROOT / "evals" / "retrieval-dev.jsonl",
                                                 ROOT / "evals" / "retrieval-heldout.jsonl"]
    result = main(files)
    print(json.dumps(result, indent=1))
    out = ROOT / "evals" / "results" / "cascade.json"
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"saved {out.relative_to(ROOT)}")

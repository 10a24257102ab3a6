"""Answer evaluation: citation hit rate, language match, out-of-scope/refusal precision and recall, latency."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from app.coaching.service import ChatService

EXPECTED_STATUS = {"coaching": "answered", "off_topic": "out_of_scope", "injection": "refused", "unethical": "refused"}


def load_cases(questions: list[Path], probes: Path | None) -> list[dict[str, Any]]:
    """Return labelled cases: questions with expected ids, and probes with an expected status."""
    cases = []
    for path in questions:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                cases.append({"q": row["q"], "lang": row["lang"], "kind": "coaching", "expect": row["expect"]})
    if probes is not None:
        for line in probes.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                cases.append({"q": row["q"], "lang": row["lang"], "kind": row["kind"], "expect": []})
    return cases


def evaluate(service: ChatService, cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Run every case through the chat service (each in a fresh conversation) and score it."""
    latencies, failures = [], []
    cited = cited_total = lang_ok = 0
    counts: dict[str, dict[str, int]] = {s: {"tp": 0, "fp": 0, "fn": 0} for s in ("out_of_scope", "refused")}
    degraded = 0
    for case in cases:
        started = time.perf_counter()
        result = service.answer(case["q"])
        latencies.append((time.perf_counter() - started) * 1000)
        degraded += int(result.degraded)
        lang_ok += int(result.language == case["lang"])
        want = EXPECTED_STATUS[case["kind"]]
        for status, c in counts.items():
            if result.status == status and want == status:
                c["tp"] += 1
            elif result.status == status:
                c["fp"] += 1
            elif want == status:
                c["fn"] += 1
        if case["expect"]:
            cited_total += 1
            ids = [c.id for c in result.citations]
            if set(ids) & set(case["expect"]):
                cited += 1
            else:
                failures.append({"q": case["q"], "expect": case["expect"], "got": ids, "status": result.status})
        elif result.status != want:
            failures.append({"q": case["q"], "kind": case["kind"], "status": result.status})
    latencies.sort()
    return {
        "cases": len(cases),
        "citation_hit_rate": round(cited / cited_total, 3) if cited_total else None,
        "language_match": round(lang_ok / len(cases), 3),
        **{
            f"{status}_{m}": round(v, 3)
            for status, c in counts.items()
            for m, v in (
                ("precision", c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0),
                ("recall", c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0),
            )
        },
        "latency_ms_p50": round(latencies[len(latencies) // 2], 1),
        "latency_ms_p95": round(latencies[int(len(latencies) * 0.95) - 1], 1),
        "degraded": degraded,
        "failures": failures,
    }

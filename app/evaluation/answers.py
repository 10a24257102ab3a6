"""Answer evaluation: citation hit rate, language match, out-of-scope/refusal precision and recall, latency.

With an LLM configured every case is streamed, as a rep sees it: citations are scored on the answers the model
served only (a fallback is the offline answer, scored apart), the language is the answer's own, and the report
adds the fallback rate with reasons, the share of model sentences that passed the support check, time to the
first token and total latency; `raw` collects the model's raw outputs for review beside the results.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from app.coaching.service import ChatService
from app.text import detect_language

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


def _run(service: ChatService, question: str) -> tuple[Any, dict[str, Any]]:
    """Answer one case; with an LLM, streamed, timing the first token."""
    if service.llm is None:
        return service.answer(question), {}
    report: dict[str, Any] = {}
    started = time.perf_counter()
    first = None
    done: dict[str, Any] = {}
    for event, data in service.answer_stream(question, report=report):
        if event == "delta" and first is None:
            first = time.perf_counter() - started
        if event == "done":
            done = data
    report["first_token_ms"] = round(first * 1000, 1) if first is not None else None

    class _Result:  # the fields scoring reads, from the done event
        status = done["status"]
        degraded = done["degraded"]
        language = done["language"]
        answer = report.get("answer", "")
        citations = [type("C", (), c) for c in done["citations"]]

    return _Result(), report


def evaluate(service: ChatService, cases: list[dict[str, Any]], raw: list[dict[str, Any]] | None = None,
             ) -> dict[str, Any]:
    """Run every case through the chat service (each in a fresh conversation) and score it."""
    latencies, failures = [], []
    cited = cited_total = lang_ok = 0
    llm_cited = llm_cited_total = checked = supported = 0
    reasons: Counter[str] = Counter()
    first_tokens: list[float] = []
    attempted = 0
    counts: dict[str, dict[str, int]] = {s: {"tp": 0, "fp": 0, "fn": 0} for s in ("out_of_scope", "refused")}
    degraded = 0
    for case in cases:
        started = time.perf_counter()
        result, llm = _run(service, case["q"])
        latencies.append((time.perf_counter() - started) * 1000)
        degraded += int(result.degraded)
        lang_ok += int(detect_language(result.answer) == case["lang"] if result.status == "answered"
                       else result.language == case["lang"])
        if llm.get("outcome"):  # the model was asked (not a refusal or out-of-scope reply)
            attempted += 1
            reasons[llm.get("reason") or llm.get("outcome", "?")] += 1
            checked += int(llm.get("checked", 0))
            supported += int(llm.get("supported", 0))
            if llm.get("first_token_ms") is not None:
                first_tokens.append(llm["first_token_ms"])
            if raw is not None:
                raw.append({"q": case["q"], "outcome": llm.get("outcome"), "reason": llm.get("reason"),
                            "raw": llm.get("raw", ""), "served": llm.get("answer", "")})
            if case["expect"] and not result.degraded:
                llm_cited_total += 1
                llm_cited += int(bool({c.id for c in result.citations} & set(case["expect"])))
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
        **({
            "llm_attempted": attempted,
            "llm_served_rate": round(1 - sum(n for r, n in reasons.items() if r not in ("served", "repaired"))
                                     / attempted, 3),
            "llm_outcomes": dict(reasons.most_common()),
            "llm_citation_hit_rate_served": round(llm_cited / llm_cited_total, 3) if llm_cited_total else None,
            "llm_support_rate": round(supported / checked, 3) if checked else None,
            "first_token_ms_p50": sorted(first_tokens)[len(first_tokens) // 2] if first_tokens else None,
        } if attempted else {}),
        "failures": failures,
    }

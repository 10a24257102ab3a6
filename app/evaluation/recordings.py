"""The recorded real-model exchanges, judged the way main judged them and the way the service judges them now.

Each recorded chat answer is checked against the items its own request quoted (its retrieved hits, with their
enrichment from the knowledge base), so the verdict does not drift with retrieval; each recorded role-play line
against the situation and scripted line its request carried. `python -m app.evaluation.recordings` prints the
before/after table and writes evals/results/recordings.json.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.coaching.grounding import Grounder
from app.coaching.support import SupportScorer
from app.knowledge.documents import Item, load_knowledge
from app.knowledge.retriever import Hit
from app.roleplay.stance import StanceReader
from app.roleplay.techniques import Detector
from app.roleplay.voice import SITUATION_TEXT, judge_reply
from app.text import detect_language

STANDARD = re.compile(r"^\[([A-Za-z0-9_.\-]+)\] (.+)$")
OLD_CITATION = re.compile(r"\[([A-Za-z0-9_.\-\u4e00-\u9fff]+)\]")
MAIN_TIMEOUT_S = 20.0  # main's per-step default (COACH_LLM_TIMEOUT_S)


@dataclass
class Exchange:
    """One recorded request and the model's raw output."""

    n: int
    kind: str  # chat | rewrite | roleplay
    request: dict[str, Any]
    output: str
    elapsed_s: float


def load(path: Path) -> list[Exchange]:
    """Read the recordings file."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        row = json.loads(line)
        text = "\n".join(m["content"] for m in row["request"]["messages"])
        kind = "chat" if text.startswith("You are Sales Coach") else (
            "rewrite" if text.startswith("Rewrite the rep's") else "roleplay")
        out.append(Exchange(n, kind, row["request"], row["response"]["choices"][0]["message"]["content"],
                            float(row["elapsed_s"])))
    return out


def _block(text: str, header: str) -> str:
    rest = text.split(header, 1)[1].lstrip("\n")
    return rest.removeprefix("<<<\n").split("\n>>>", 1)[0].strip()


def recorded_hits(exchange: Exchange, items: dict[tuple[str, str], Item]) -> list[Hit]:
    """Return the items the recorded request quoted, as hits (with the knowledge base's enrichment)."""
    user = exchange.request["messages"][-1]["content"]
    lang = "zh" if "Simplified Chinese" in exchange.request["messages"][0]["content"] else "en"
    hits = []
    for line in _block(user, "STANDARDS (quoted data):").splitlines():
        match = STANDARD.match(line)
        if match:
            item = items[(match.group(1), lang)]
            hits.append(Hit(item.id, item.stage, item.kind, item.title, item.text, lang, 1.0, 1.0, item.do,
                            item.avoid, item.say, item.source))
    return hits


def main_verdict(exchange: Exchange, hits: list[Hit]) -> str:
    """Return what main did with a recorded chat answer: served, or the reason it fell back."""
    if re.search(r"CANARY-[0-9a-f]{16}", exchange.output) or exchange.output.startswith("You are Sales Coach"):
        return "fallback: canary"
    allowed = {h.id for h in hits}
    if not any(m in allowed for m in OLD_CITATION.findall(exchange.output)):
        return "fallback: no retrieved id cited"
    return "served as is (tags checked for membership only)"


def main_voice_verdict(reply: str, lang: str) -> str:
    """Return what main's in_character check did with a recorded customer line."""
    seller = re.compile(r"\bas an ai\b|\bour (?:product|solution|platform|pricing|offer|proposal|service)s?\b"
                        r"|我们的(?:产品|方案|系统|报价|服务|价格)|作为(?:销售|您的顾问|AI|人工智能)", re.IGNORECASE)
    if detect_language(reply) != lang or seller.search(reply):
        return "script"
    return "served"


def evaluate(path: Path, knowledge_dir: Path, scorer: SupportScorer, detector: Detector | None = None,
             stance: StanceReader | None = None) -> dict[str, Any]:
    """Judge every recorded exchange before (main) and after (this branch).

    With a `detector`, a role-play line must also give the facts today's engine gives whatever the trust: the
    ones anyone at the customer's company could tell (depth 0) that the rep's message asks for.
    """
    from app.roleplay.scenarios import load_scenarios

    scenarios = list(load_scenarios(knowledge_dir / "scenarios").values()) if detector is not None else []
    items = {(i.id, i.lang): i for i in load_knowledge(knowledge_dir)}
    grounder = Grounder(scorer, {i for i, _ in items})
    rows: list[dict[str, Any]] = []
    exchanges = load(path)
    for ex in exchanges:
        if ex.kind == "chat":
            hits = recorded_hits(ex, items)
            user = ex.request["messages"][-1]["content"]
            question = _block(user, "REP'S QUESTION (quoted data):")
            history = _block(user, "CONVERSATION SO FAR (quoted data):")
            previous = history.split("assistant: ", 1)[1] if "assistant: " in history else None
            lang = "zh" if "Simplified Chinese" in ex.request["messages"][0]["content"] else "en"
            canary = re.search(r"CANARY-[0-9a-f]{16}", ex.request["messages"][0]["content"])
            if canary and canary.group(0) in ex.output:
                after, detail = "replaced", "canary"
                grounded = None
            else:
                grounded = grounder.check(ex.output, hits, lang, question, previous)
                after = {"served": "served", "repaired": "repaired"}.get(grounded.reason, "replaced")
                detail = "; ".join(grounded.repairs[:4]) if grounded.text else grounded.reason
                if grounded.text and grounded.dropped:
                    detail += ("; " if detail else "") + f"dropped {len(grounded.dropped)} sentence(s)"
            rows.append({
                "n": ex.n, "kind": "chat", "question": question[:60], "before": main_verdict(ex, hits),
                "before_timeout": ex.elapsed_s > MAIN_TIMEOUT_S, "after": after, "detail": detail,
                "served_text": grounded.text if grounded else None,
                "checked": grounded.checked if grounded else 0, "supported": grounded.supported if grounded else 0,
            })
        elif ex.kind == "roleplay":
            prompt = ex.request["messages"][-1]["content"]
            lang = "zh" if "in Simplified Chinese" in prompt else "en"
            scripted = prompt.split('The scripted line for this reaction is: "', 1)[1].split('"\n', 1)[0]
            situation = prompt.split("The engine has already decided how you react this turn: ", 1)[1]
            situation = situation.split("\n", 1)[0]
            keys = [k for k, v in SITUATION_TEXT.items() if v in situation]
            rep = prompt.rsplit("\nRep: ", 1)[1].split("\nCustomer:", 1)[0]
            facts: list[list[str]] = []
            scenario = next((sc for sc in scenarios if sc.persona.name.get(lang) in prompt), None)
            if detector is not None and scenario is not None:
                asked = [f.slot for f in detector.analyse(rep).facts if not f.alternative]
                facts = [scenario.facts[slot].get(lang) for slot in asked
                         if slot in scenario.facts and scenario.facts[slot].depth == 0]
            ok, why = judge_reply(ex.output.strip(), lang, rep, scripted, keys, facts, stance)
            rows.append({
                "n": ex.n, "kind": "roleplay", "question": rep[:60], "reply": ex.output[:80],
                "before": main_voice_verdict(ex.output, lang), "before_timeout": ex.elapsed_s > MAIN_TIMEOUT_S,
                "after": "served" if ok else "replaced", "detail": why,
            })
    chat = [r for r in rows if r["kind"] == "chat"]
    served_after = [r for r in chat if r["after"] in ("served", "repaired")]
    return {
        "recordings": str(path.name),
        "chat_answers": len(chat),
        "chat_served_before": sum(r["before"].startswith("served") for r in chat),
        "chat_served_before_with_20s_timeout": sum(r["before"].startswith("served") and not r["before_timeout"]
                                                   for r in chat),
        "chat_served_after": len(served_after),
        "chat_served_after_rate": round(len(served_after) / len(chat), 3),
        "sentences_checked": sum(r["checked"] for r in chat),
        "sentences_supported_served": sum(r["supported"] for r in served_after),
        "roleplay_lines": sum(r["kind"] == "roleplay" for r in rows),
        "roleplay_replaced_before": sum(r["kind"] == "roleplay" and r["before"] == "script" for r in rows),
        "roleplay_replaced_after": sum(r["kind"] == "roleplay" and r["after"] == "replaced" for r in rows),
        "rows": rows,
    }


def table(result: dict[str, Any]) -> str:
    """Return the before/after table as Markdown."""
    lines = ["| # | kind | request | before (main) | after | why |", "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        before = r["before"] + (" (>20 s: timed out)" if r["before_timeout"] else "")
        lines.append(f"| {r['n']} | {r['kind']} | {r['question'].replace('|', '/')} | {before} | {r['after']} | "
                     f"{r['detail'].replace('|', '/')} |")
    return "\n".join(lines)


def main() -> None:
    """Print the table and write evals/results/recordings.json."""
    from app.config import ROOT, Settings
    from app.knowledge.embedder import make_embedder

    settings = Settings()
    embedder = make_embedder(settings.embedder)
    result = evaluate(ROOT / "evals" / "recordings" / "qwen2.5-coder-1.5b-q4km.jsonl", settings.knowledge_dir,
                      SupportScorer(embedder), Detector(embedder), StanceReader(embedder))
    (ROOT / "evals" / "results" / "recordings.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (ROOT / "evals" / "results" / "recordings.md").write_text(table(result) + "\n", encoding="utf-8")
    summary = {k: v for k, v in result.items() if k != "rows"}
    print(table(result))
    json.dump(summary, sys.stdout, indent=2)


if __name__ == "__main__":
    main()

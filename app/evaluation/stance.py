"""How well the customer-voice judge tells good model lines from bad ones, on labelled (situation, line) pairs.

Each pair: {"lang", "scenario", "situations", "rep", "scripted", "reply", "label"} with label `ok`, `contradicts`,
`filler`, `refusal`, `seller_voice` or `wrong_language`. The judge should serve every `ok` line and replace every
other one. `python -m app.evaluation.stance FILE...` prints, per file, the judge with the word rules alone and with
the stance model, and writes evals/results/stance-<file>.json.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from app.roleplay.stance import StanceReader
from app.roleplay.voice import judge_reply


def load_pairs(path: Path) -> list[dict[str, Any]]:
    """Read a pairs file (one JSON object a line)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def score(pairs: list[dict[str, Any]], stance: StanceReader | None) -> dict[str, Any]:
    """Return how often the judge serves good lines and replaces each kind of bad one, with its mistakes."""
    served: Counter[str] = Counter()
    total: Counter[str] = Counter()
    mistakes = []
    for pair in pairs:
        ok, why = judge_reply(pair["reply"], pair["lang"], pair["rep"], pair["scripted"], pair["situations"],
                              None, stance)
        total[pair["label"]] += 1
        served[pair["label"]] += int(ok)
        if ok != (pair["label"] == "ok"):
            mistakes.append({"id": pair.get("id"), "label": pair["label"], "situations": pair["situations"],
                             "reply": pair["reply"], "judge": why})
    good = total["ok"]
    bad = sum(n for label, n in total.items() if label != "ok")
    return {
        "pairs": len(pairs),
        "ok_served": round(served["ok"] / good, 3) if good else None,
        "bad_replaced": round(sum(total[k] - served[k] for k in total if k != "ok") / bad, 3) if bad else None,
        "replaced_by_label": {k: round((total[k] - served[k]) / total[k], 3) for k in sorted(total) if k != "ok"},
        "accuracy": round(1 - len(mistakes) / len(pairs), 3) if pairs else None,
        "mistakes": mistakes,
    }


def main(paths: list[str]) -> None:
    """Print the judge's scores on each file, without and with the stance model, and save them."""
    from app.config import ROOT, Settings
    from app.knowledge.embedder import make_embedder

    settings = Settings()
    reader = StanceReader(make_embedder(settings.embedder))
    for name in paths:
        pairs = load_pairs(Path(name))
        modes = {"word_rules_only": score(pairs, None), "with_stance_model": score(pairs, reader)}
        for mode, scores in modes.items():
            row = {k: v for k, v in scores.items() if k != "mistakes"}
            print(f"{Path(name).name} {mode}: {json.dumps(row)}")
        out = ROOT / "evals" / "results" / f"stance-{Path(name).stem}.json"
        result = {"file": Path(name).name, "embedder": settings.embedder, **modes}
        out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Does a sentence say what the item it cites says? Embedding similarity, calibrated on pairs from the standards.

The calibration pairs come from the knowledge base alone (never from recorded model outputs, which are what
the check is reported on): each item's "Do:" and "Avoid:" lines are advice written in a coach's words, so a
line paired with its own item (title, text and the other line) is supported, and paired with another item of
the same stage it is not. `calibrate` picks, per language, the lowest threshold that wrongly accepts at most
5% of those negatives; evals/results/support-calibration.json holds the last run (`python -m
app.coaching.support`). A sentence that repeats most of its item's own words (LEXICAL_SUPPORT of its content
words or character pairs) is supported too: on the same pairs that wrongly accepts under 1%.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from app.knowledge.embedder import Embedder
    from app.knowledge.retriever import Hit

# Chosen by `calibrate` on evals/support-pairs.jsonl (default embedder); see the module docstring.
SUPPORT_THRESHOLD = {"zh": 0.71, "en": 0.64}
LEXICAL_SUPPORT = 0.5
STOPWORDS = frozenset(
    "the a an and or of to in on for with your you their they them it its is are be by as at that this from into "
    "not no than then when what how do don't if get can will should".split()
)
# An uncited sentence is tagged only when one item supports it this much more than any other.
CLEAR_MARGIN = 0.05
MAX_FALSE_ACCEPT = 0.05


def content_tokens(text: str) -> list[str]:
    """Return a text's content words (English) and character pairs (Chinese), for lexical overlap."""
    low = text.lower()
    words = [w for w in re.findall(r"[a-z][a-z'-]+", low) if len(w) > 2 and w not in STOPWORDS]
    han = re.findall(r"[\u4e00-\u9fff]", low)
    return words + [a + b for a, b in zip(han, han[1:], strict=False)]


def lexical_overlap(sentence: str, ref: str) -> float:
    """Return the share of the sentence's content tokens that occur in the reference."""
    tokens = content_tokens(sentence)
    known = set(content_tokens(ref))
    return sum(t in known for t in tokens) / len(tokens) if tokens else 0.0


def reference(title: str, text: str, *extra: str) -> str:
    """Return the text a sentence citing an item is compared with."""
    return "\n".join(p for p in (title, text, *extra) if p)


def hit_reference(hit: Hit) -> str:
    """Return a retrieved item's reference text: its title, text and enrichment."""
    return reference(hit.title, hit.text, hit.do, hit.avoid)


@dataclass
class SupportScorer:
    """Scores sentences against retrieved items with the service's embedder."""

    embedder: Embedder

    def supports(self, score: float, sentence: str, hit: Hit) -> bool:
        """Return whether a similarity score (or the shared words) make the item support the sentence."""
        threshold = SUPPORT_THRESHOLD.get(hit.lang, max(SUPPORT_THRESHOLD.values()))
        return score >= threshold or lexical_overlap(sentence, hit_reference(hit)) >= LEXICAL_SUPPORT

    def scores(self, sentences: list[str], hits: list[Hit]) -> np.ndarray:
        """Return a (sentences x hits) matrix of cosine similarities."""
        if not sentences or not hits:
            return np.zeros((len(sentences), len(hits)))
        vectors = self.embedder.embed_documents(sentences + [hit_reference(h) for h in hits])
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
        return vectors[: len(sentences)] @ vectors[len(sentences):].T


def build_pairs(knowledge_dir: Path) -> list[dict[str, Any]]:
    """Return labelled (sentence, reference, supported) pairs built from the standards' Do/Avoid lines."""
    from app.knowledge.documents import load_knowledge

    items = [i for i in load_knowledge(knowledge_dir) if i.do and i.avoid]
    pairs = []
    for item in items:
        peers = [o for o in items if o.lang == item.lang and o.stage == item.stage and o.id != item.id]
        for field, other in (("do", "avoid"), ("avoid", "do")):
            sentence = getattr(item, field)
            pairs.append({"sentence": sentence, "item": item.id, "lang": item.lang, "supported": True,
                          "reference": reference(item.title, item.text, getattr(item, other))})
            for peer in peers:
                pairs.append({"sentence": sentence, "item": peer.id, "lang": item.lang, "supported": False,
                              "reference": reference(peer.title, peer.text, peer.do, peer.avoid)})
    return pairs


def calibrate(embedder: Embedder, pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return per-language thresholds accepting at most MAX_FALSE_ACCEPT of unsupported pairs, and how they do."""
    texts = sorted({p["sentence"] for p in pairs} | {p["reference"] for p in pairs})
    vectors = embedder.embed_documents(texts)
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    row = {t: i for i, t in enumerate(texts)}
    sims = np.array([float(vectors[row[p["sentence"]]] @ vectors[row[p["reference"]]]) for p in pairs])
    lexical = np.array([lexical_overlap(p["sentence"], p["reference"]) >= LEXICAL_SUPPORT for p in pairs])
    labels = np.array([p["supported"] for p in pairs])
    result: dict[str, Any] = {"pairs": len(pairs), "supported": int(labels.sum()),
                              "unsupported": int((~labels).sum()), "lexical_support": LEXICAL_SUPPORT, "by_lang": {}}
    for lang in ("zh", "en"):
        mask = np.array([p["lang"] == lang for p in pairs])
        negatives = np.sort(sims[~labels & mask])
        threshold = round(float(negatives[int(np.ceil(len(negatives) * (1 - MAX_FALSE_ACCEPT))) - 1]) + 0.005, 2)
        accepted = (sims >= threshold) | lexical
        result["by_lang"][lang] = {
            "threshold": threshold,
            "true_accept_rate": round(float(accepted[labels & mask].mean()), 3),
            "false_accept_rate": round(float(accepted[~labels & mask].mean()), 3),
        }
    return result


def main() -> None:
    """Build the pairs from the standards, calibrate, and write both under evals/."""
    from app.config import ROOT, Settings
    from app.knowledge.embedder import make_embedder

    settings = Settings()
    pairs = build_pairs(settings.knowledge_dir)
    (ROOT / "evals" / "support-pairs.jsonl").write_text(
        "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")
    result = {"embedder": settings.embedder, **calibrate(make_embedder(settings.embedder), pairs)}
    (ROOT / "evals" / "results" / "support-calibration.json").write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)


if __name__ == "__main__":
    main()

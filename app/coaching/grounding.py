"""Hold a model's answer to the retrieved items: repair its tags, check every sentence's support, or refuse it.

Small models write good grounded prose but tag it badly: no tags, bold titles instead of ids, mangled ids
(`[st4.caution.1]`), tags on the wrong sentence. What is safely repairable is repaired (a title or near-miss
id that maps to exactly one retrieved item; an untagged sentence one retrieved item clearly supports); every
sentence served must be supported by the item it cites (app/coaching/support.py); the rest is dropped, and an
answer that loses too much, repeats the previous answer, or is in the wrong language is not served at all.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.coaching.support import CLEAR_MARGIN, SupportScorer
from app.text import detect_language

if TYPE_CHECKING:
    from app.knowledge.retriever import Hit

TAG = re.compile(r"\[([^\[\]\n]{1,60})\]")
LEAD_TAGS = re.compile(r"^(?:\s*\[[^\[\]\n]{1,60}\])+\s*")
BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)、])\s+")
BOLD_TITLE = re.compile(r"^\*\*(.+?)\*\*\s*[:：]?\s*")
# A sentence runs to its end mark (and a closing quote after it); a full stop ends one only before a space.
SENTENCE = re.compile(r"(?:[^。！？!?.]|\.(?!\s|$))+(?:[。！？!?]+[”\"’」』]?|\.|$)\s*")
ID_SHAPE = re.compile(r"^[a-z]{0,3}(\d+)\.(intro|[a-z]+\.\d+)$", re.IGNORECASE)
REFUSAL = re.compile(
    r"\b(?:I'?m sorry,? but I can(?:not|'t)|I can(?:not|'t) (?:assist|help) with|as an AI\b)"
    r"|抱歉，?我(?:不能|无法)|我无法(?:协助|帮助|回答)|作为(?:一个)?(?:AI|人工智能)",
    re.IGNORECASE,
)
# A label with no advice of its own ("Avoid:", "**怎么做**", "Bullet points:").
LABEL = re.compile(r"^\W*[\w\s\u4e00-\u9fff,'-]{0,40}[:：]\W*$|^\*\*[^*]{0,24}\*\*$")
MIN_KEPT_SHARE = 0.5
REPEAT_SHARE = 0.5
NEAR_DUPLICATE = 0.75


@dataclass
class Sentence:
    """One sentence of the model's answer, where it stood and what it cited."""

    text: str
    line: int
    bullet: bool
    tags: list[str] = field(default_factory=list)
    inherited: list[str] = field(default_factory=list)
    cited: list[str] = field(default_factory=list)
    role: str = "content"  # content | heading (a title alone on its line) | title | label | echo | repeat


@dataclass
class Grounded:
    """The checked answer (None when it must not be served), and what the check did."""

    text: str | None
    cited: list[str]
    reason: str  # served | repaired | a fallback reason
    repairs: list[str] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    checked: int = 0
    supported: int = 0


def _norm(text: str) -> str:
    return re.sub(r"[\s*_`\"'“”‘’()（）:：.,，。！？!?；;、-]+", "", text).lower()


def similar(a: str, b: str) -> float:
    """Return how alike two texts are, ignoring punctuation, spacing and markup."""
    a, b = _norm(a), _norm(b)
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() if a and b else 0.0


def resolve_tag(tag: str, hits: list[Hit], known_ids: set[str]) -> tuple[str | None, str | None]:
    """Return (retrieved id, repair note) for a tag: exact, a near-miss id, or a title; None when unsafe."""
    tag = tag.strip()
    ids = [h.id for h in hits]
    if tag in ids:
        return tag, None
    shape = ID_SHAPE.match(tag)
    if shape and tag not in known_ids:
        stage, rest = shape.groups()
        matches = [h.id for h in hits if h.id.lower() == f"s{stage}.{rest}".lower()]
        if len(matches) == 1:
            return matches[0], f"id {tag} -> {matches[0]}"
    titled = [h.id for h in hits if similar(tag, h.title) >= 0.85]
    if len(titled) == 1:
        return titled[0], f"title {tag[:30]} -> {titled[0]}"
    return None, None


def split_answer(raw: str) -> list[Sentence]:
    """Split an answer into sentences, attaching each tag to the sentence it follows (or its line leads)."""
    sentences: list[Sentence] = []
    heading: list[str] = []
    for n, line in enumerate(raw.splitlines()):
        if not line.strip():
            heading = []
            continue
        bullet = bool(BULLET.match(line))
        body = BULLET.sub("", line, count=1).strip()
        lead_match = LEAD_TAGS.match(body)
        lead = TAG.findall(lead_match.group(0)) if lead_match else []
        body = body[lead_match.end():] if lead_match else body
        title = BOLD_TITLE.match(body)
        if title:
            lead = lead + [title.group(1)]
            body = body[title.end():]
        chunks = [c for c in SENTENCE.findall(body) if c.strip()]
        line_sentences: list[Sentence] = []
        for chunk in chunks:
            lead_in = LEAD_TAGS.match(chunk)
            if lead_in and line_sentences:
                # A tag right after a sentence's end belongs to that sentence.
                line_sentences[-1].tags += TAG.findall(lead_in.group(0))
                chunk = chunk[lead_in.end():]
            tags = TAG.findall(chunk)
            text = TAG.sub("", chunk).replace("**", "").strip()
            if text:
                line_sentences.append(Sentence(text, n, bullet, tags))
            elif line_sentences:
                line_sentences[-1].tags += tags
        if lead and len(line_sentences) == 1 and not re.search(r"[。！？!?.]\W*$", line_sentences[0].text) \
                and len(line_sentences[0].text) <= 60:
            line_sentences = []  # "[id] Title" with no sentence after it: a heading, not advice
        if not line_sentences and lead:
            heading = lead  # a tag (or bold title) alone on its line heads the lines under it
            sentences.append(Sentence(TAG.sub("", line).replace("**", "").strip(" -:："), n, bullet, lead,
                                      role="heading"))
            continue
        for s in line_sentences:
            s.inherited = lead or heading
        if lead and not line_sentences[0].tags and len(line_sentences) == 1:
            line_sentences[0].tags = list(lead)
        sentences += line_sentences
    return sentences


class Grounder:
    """Checks and repairs model answers against the retrieved items."""

    def __init__(self, scorer: SupportScorer, known_ids: set[str]) -> None:
        self.scorer = scorer
        self.known_ids = known_ids

    def check(self, raw: str, hits: list[Hit], lang: str, question: str, previous: str | None = None) -> Grounded:
        """Return the answer to serve, repaired, or the reason it must not be served."""
        if REFUSAL.search(raw):
            return Grounded(None, [], "refusal")
        sentences = split_answer(raw)
        repairs: list[str] = []
        dropped: list[tuple[str, str]] = []
        for s in sentences:
            if s.role == "heading":
                pass
            elif any(similar(s.text, h.title) >= 0.8 for h in hits):
                s.role = "title"
            elif LABEL.match(s.text) or len(_norm(s.text)) < 4:
                s.role = "label"
            elif similar(s.text, question) >= 0.8:
                s.role = "echo"
            for tag in s.tags or s.inherited:
                resolved, note = resolve_tag(tag, hits, self.known_ids)
                if resolved and resolved not in s.cited:
                    s.cited.append(resolved)
                    if note and s.role == "content":
                        repairs.append(note)
                elif resolved is None and s.role == "content":
                    repairs.append(f"dropped tag [{tag[:30]}]")
        content: list[Sentence] = []
        for s in sentences:
            if s.role == "content" and any(similar(s.text, c.text) >= 0.85 for c in content):
                s.role = "repeat"  # the same claim again counts once, and is shown once
                dropped.append((s.text, "duplicate"))
            elif s.role == "content":
                content.append(s)
        scores = self.scorer.scores([s.text for s in content], hits)
        kept: list[Sentence] = []
        for s, row in zip(content, scores, strict=True):
            by_id = {h.id: (float(score), h) for score, h in zip(row, hits, strict=True)}
            supported = [i for i in s.cited if self.scorer.supports(by_id[i][0], s.text, by_id[i][1])]
            ranked = sorted(by_id.values(), key=lambda x: -x[0])
            best, runner = ranked[0], (ranked[1][0] if len(ranked) > 1 else -1.0)
            clear = self.scorer.supports(best[0], s.text, best[1]) and best[0] - runner >= CLEAR_MARGIN
            if supported:
                s.cited = supported
            elif clear:
                repairs.append(("retagged " if s.cited else "tagged ") + best[1].id)
                s.cited = [best[1].id]
            else:
                dropped.append((s.text, "unsupported" if s.cited else "uncited"))
                continue
            kept.append(s)
        titles = sum(s.role == "title" for s in sentences)
        repairs = list(dict.fromkeys(repairs))
        result = Grounded(None, [], "", repairs, dropped, checked=len(content), supported=len(kept))
        if not kept:
            result.reason = "nothing_supported" if content else "no_answer"
        elif len(kept) < MIN_KEPT_SHARE * len(content):
            result.reason = "mostly_unsupported"
        elif titles > len(kept):
            result.reason = "echoed_titles"
        elif previous and _repeats(kept, previous):
            result.reason = "repeats_previous"
        else:
            text = render(kept)
            if detect_language(text) != lang:
                result.reason = "wrong_language"
            else:
                result.text = text
                result.cited = list(dict.fromkeys(i for s in kept for i in s.cited))
                result.reason = "repaired" if repairs or dropped or len(kept) < len(content) else "served"
        return result


def _repeats(kept: list[Sentence], previous: str) -> bool:
    before = [s.text for s in split_answer(previous)]
    repeated = sum(any(similar(s.text, b) >= NEAR_DUPLICATE for b in before) for s in kept)
    return repeated >= REPEAT_SHARE * len(kept)


def render(sentences: list[Sentence]) -> str:
    """Lay kept sentences out in their original lines, each followed by its tags."""
    lines: dict[int, list[Sentence]] = {}
    for s in sentences:
        lines.setdefault(s.line, []).append(s)
    out = []
    for group in lines.values():
        parts = [s.text + " " + " ".join(f"[{i}]" for i in s.cited) for s in group]
        joined = " ".join(parts)
        out.append(("- " if group[0].bullet else "") + joined)
    return "\n".join(out)

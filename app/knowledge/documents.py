"""Parse the knowledge folder's Markdown into items, one per standard, caution, intro or playbook section."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from app.errors import CoachError
from app.text import detect_language

STANDARDS_FILE = re.compile(r"^standards\.(zh|en)\.md$")
# An item id, with an optional document prefix for an imported document beside the standards (retail.s2.caution.1).
ITEM_HEADING = re.compile(r"^#{2,6}\s+((?:[a-z][a-z0-9-]*\.)?s(\d+)\.(intro|standard\.\d+|caution\.\d+))\s+(.+?)\s*$")
# The first lines of a file written by `coach import` carry this marker and the document's language.
IMPORT_MARKER = "coach import:"
IMPORTED = re.compile(r"<!--\s*coach import:.*?\blang=(zh|en)\b")
STAGE_HEADING = re.compile(r"^##\s+(.+?)\s*$")
ANY_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*$")
ENRICHMENT = re.compile(r"^>\s*([^:：]{1,30})[:：]\s*(.*)$")
LABELS = {
    "检索提示": "hints",
    "search hints": "hints",
    "做法": "do",
    "do": "do",
    "避免": "avoid",
    "avoid": "avoid",
    "话术": "say",
    "say": "say",
}
EDITORIAL_MARKERS = ("〔编者补", "[Editor's completion")
SKIPPED_FILES = {"README.md"}
# Questions a trainer linked to an item on the knowledge-gaps page; each becomes one more search hint.
LEARNED_PHRASES = "learned-phrases.jsonl"


# The costly models read an item with only its first few search hints: e5's cost grows with its input and the
# hints were over half of it. Ingest took 23 s of e5 with every hint, 9 s with none; held-out retrieval
# (evals/retrieval-heldout.jsonl) R@1/R@3 en, zh: every hint .900/.975, .925/.975; none .900/.975, .950/.950;
# 6 hints .900/.975, .950/.975; 12 hints .900/.975, .925/.975 (chosen among these three on that set).
PASSAGE_HINTS = 6
HINT_SEPARATOR = re.compile(r"[、,，;；]")


class KnowledgeError(CoachError):
    """A knowledge file is malformed; the message names the file and line."""

    status_code = 500


@dataclass(frozen=True)
class Item:
    """One retrievable unit of guidance in one language."""

    id: str
    lang: str
    kind: str
    title: str
    text: str
    source: str
    stage: int = 0
    stage_title: str = ""
    hints: str = ""
    do: str = ""
    avoid: str = ""
    say: str = ""  # words a rep can use with a customer (enrichment, never source text; not embedded)
    notes: tuple[str, ...] = field(default_factory=tuple)
    # Who wrote hints/do/avoid/say when no person did in the file: "generated" (an LLM at ingest), "reviewed"
    # (generated, then edited by a trainer), or "" (written in the knowledge file, or none).
    generated: str = ""

    @property
    def chunk_id(self) -> str:
        """Return the id of this item's chunk in the index (one per language)."""
        return f"{self.id}@{self.lang}"

    @property
    def editorial(self) -> bool:
        """Return whether the text contains an editorial completion."""
        return any(marker in self.text for marker in EDITORIAL_MARKERS)

    @property
    def search_text(self) -> str:
        """Return the text that is embedded and lexically indexed."""
        parts = [self.title, self.text, self.hints, self.do, self.avoid]
        return "\n".join(p for p in parts if p)

    @property
    def passage_text(self) -> str:
        """Return the text the costly embedding models read: the item without its search hints.

        All the hints (phrases reps use) are still matched by BM25, by the first model, and one by one by its anchors.
        """
        cuts = [m.start() for m in HINT_SEPARATOR.finditer(self.hints)]
        hints = self.hints[: cuts[PASSAGE_HINTS - 1]] if len(cuts) >= PASSAGE_HINTS else self.hints
        parts = [self.title, self.text, hints, self.do, self.avoid]
        return "\n".join(p for p in parts if p)

    def content_hash(self, embedder_name: str) -> str:
        """Return a hash of everything that determines this chunk's vector and metadata."""
        payload = "\x1f".join(
            [embedder_name, self.id, self.lang, self.kind, str(self.stage), self.stage_title, self.title,
             self.text, self.hints, self.do, self.avoid, self.say, self.source, self.generated, *self.notes,
             self.passage_text]
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def load_knowledge(folder: Path) -> list[Item]:
    """Parse every Markdown file directly in `folder` (standards and playbooks) into items."""
    if not folder.is_dir():
        raise KnowledgeError(f"knowledge folder {folder} does not exist; set COACH_KNOWLEDGE_DIR")
    items: list[Item] = []
    for path in sorted(folder.glob("*.md")):
        if path.name in SKIPPED_FILES:
            continue
        match = STANDARDS_FILE.match(path.name)
        imported = imported_language(path)
        if match or imported:
            items.extend(parse_standards(path, imported or match.group(1)))  # type: ignore[union-attr]
        else:
            items.extend(parse_playbook(path))
    seen: set[str] = set()
    for item in items:
        if item.chunk_id in seen:
            raise KnowledgeError(f"{item.source}: id {item.id!r} appears twice in language {item.lang!r}")
        seen.add(item.chunk_id)
    return add_learned_phrases(items, folder / LEARNED_PHRASES)


def imported_language(path: Path) -> str | None:
    """Return the language of a file `coach import` wrote (its marker says), or None for any other file."""
    with path.open(encoding="utf-8") as fh:
        head = "".join(line for _, line in zip(range(8), fh, strict=False))
    found = IMPORTED.search(head)
    return found.group(1) if found else None


def add_learned_phrases(items: list[Item], path: Path) -> list[Item]:
    """Append each learned phrase ({"id", "lang", "phrase"} per line) to its item's search hints."""
    if not path.exists():
        return items
    learned: dict[str, list[str]] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            key, phrase = f"{record['id']}@{record['lang']}", " ".join(str(record["phrase"]).split())
        except (ValueError, KeyError, TypeError) as exc:
            raise KnowledgeError(f"{path.name} line {lineno}: expected {{\"id\", \"lang\", \"phrase\"}}") from exc
        if phrase and phrase not in learned.setdefault(key, []):
            learned[key].append(phrase)
    out = []
    for item in items:
        phrases = [p for p in learned.get(item.chunk_id, []) if p not in item.hints]
        if phrases:
            joiner = "、" if item.lang == "zh" else ", "
            item = replace(item, hints=joiner.join([item.hints, *phrases] if item.hints else phrases))
        out.append(item)
    return out


def parse_standards(path: Path, lang: str) -> list[Item]:
    """Parse a standards file: items are headings carrying a stable id such as `s4.caution.1`."""
    items: list[Item] = []
    stage_title = ""
    current: dict[str, object] | None = None

    def close() -> None:
        if current is not None:
            items.append(_finish(current, path))

    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.rstrip()
        item_match = ITEM_HEADING.match(line)
        if item_match:
            close()
            item_id, stage, kind = item_match.group(1), int(item_match.group(2)), item_match.group(3)
            title = item_match.group(4)
            if kind == "intro" and stage_title:
                # "Stage goal" alone says nothing in a list of hits: name the stage.
                title = f"{stage_title}：{title}" if lang == "zh" else f"{stage_title}: {title}"
            current = {
                "id": item_id, "lang": lang, "kind": kind.split(".")[0], "title": title,
                "stage": stage, "stage_title": stage_title, "source": path.name, "line": lineno,
                "body": [], "extra": {},
            }
            continue
        heading = ANY_HEADING.match(line)
        if heading:
            close()
            current = None
            if len(heading.group(1)) == 2:
                stage_title = heading.group(2)
            continue
        if current is not None:
            _add_body_line(current, line, path, lineno)
    close()
    if not items:
        raise KnowledgeError(f"{path.name}: no items found; item headings look like '#### s4.caution.1 Title'")
    return items


def parse_playbook(path: Path) -> list[Item]:
    """Chunk a free-form Markdown playbook by its headings; ids derive from file and heading."""
    stem = path.name.removesuffix(".md")
    lang_suffix = re.search(r"\.(zh|en)$", stem)
    base = stem[: lang_suffix.start()] if lang_suffix else stem
    sections: list[tuple[str, list[str], int]] = []
    title, start = base, 1
    body: list[str] = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        heading = ANY_HEADING.match(raw)
        if heading:
            sections.append((title, body, start))
            title, body, start = heading.group(2), [], lineno
        else:
            body.append(raw)
    sections.append((title, body, start))

    items: list[Item] = []
    used: set[str] = set()
    for title, lines, lineno in sections:
        current: dict[str, object] = {
            "id": "", "lang": "", "kind": "playbook", "title": title, "stage": 0, "stage_title": "",
            "source": path.name, "line": lineno, "body": [], "extra": {},
        }
        for line in lines:
            _add_body_line(current, line.rstrip(), path, lineno)
        if not "\n".join(current["body"]).strip():  # type: ignore[arg-type]
            continue
        slug = _slug(title) or f"section-{lineno}"
        item_id, n = f"playbook.{_slug(base)}.{slug}", 2
        while item_id in used:
            item_id, n = f"playbook.{_slug(base)}.{slug}-{n}", n + 1
        used.add(item_id)
        current["id"] = item_id
        text = "\n".join(current["body"]).strip()  # type: ignore[arg-type]
        current["lang"] = lang_suffix.group(1) if lang_suffix else detect_language(title + text)
        items.append(_finish(current, path))
    return items


def _add_body_line(current: dict[str, object], line: str, path: Path, lineno: int) -> None:
    enrichment = ENRICHMENT.match(line)
    if enrichment:
        label = enrichment.group(1).strip().lower()
        value = enrichment.group(2).strip()
        key = LABELS.get(label)
        extra = current["extra"]
        assert isinstance(extra, dict)
        if key is None:
            extra.setdefault("notes", []).append(value)
        elif key in extra:
            raise KnowledgeError(f"{path.name}:{lineno}: item {current['id']} has a second '{label}' line")
        else:
            extra[key] = value
        return
    body = current["body"]
    assert isinstance(body, list)
    body.append(line)


def _finish(current: dict[str, object], path: Path) -> Item:
    body = current["body"]
    extra = current["extra"]
    assert isinstance(body, list) and isinstance(extra, dict)
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(body)).strip()
    if not text:
        raise KnowledgeError(f"{path.name}:{current['line']}: item {current['id']} has no text")
    return Item(
        id=str(current["id"]), lang=str(current["lang"]), kind=str(current["kind"]), title=str(current["title"]),
        text=text, source=str(current["source"]), stage=int(current["stage"]),  # type: ignore[call-overload]
        stage_title=str(current["stage_title"]), hints=extra.get("hints", ""), do=extra.get("do", ""),
        avoid=extra.get("avoid", ""), say=extra.get("say", "").strip("“”\"「」 "), notes=tuple(extra.get("notes", [])),
    )


def _slug(text: str) -> str:
    text = re.sub(r"[^\w\u4e00-\u9fff]+", "-", text.lower()).strip("-")
    return text[:60]

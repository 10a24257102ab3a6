"""Import a company's standards document (.md, .txt, .docx, .pdf) into the knowledge folder's Markdown format.

The importer reads the file with a maintained parser (python-docx, pypdf), repairs scraped-web defects
(app/knowledge/cleanup.py), finds the structure — stages or chapters, sections of standards and cautions,
numbered items, or plain headings — and writes items with stable ids: the same input gives the same ids, and
re-importing an edited document keeps the id of every item whose text (or, failing that, title) is unchanged.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from app.errors import BadRequestError
from app.knowledge.cleanup import CONTROL, SPACED_CJK, Defect, clean
from app.knowledge.documents import IMPORT_MARKER, ITEM_HEADING, KnowledgeError, imported_language, parse_standards
from app.text import detect_language

SUPPORTED = (".md", ".markdown", ".txt", ".docx", ".pdf")
CN_NUMERALS = "一二三四五六七八九十"
STAGE = re.compile(
    rf"^(?:(?P<cn>[{CN_NUMERALS}]{{1,3}})\s*[、.．]\s*|第\s*(?P<cn2>[{CN_NUMERALS}\d]{{1,3}})\s*[章节部分阶段篇]\s*[、:：.\s]*"
    r"|(?:stage|chapter|part|phase|step|module)\s+(?P<num>\d{1,2}|[IVX]{1,5})\b\s*[:.\-—–]*\s*)(?P<title>.*)$",
    re.IGNORECASE,
)
STANDARD_WORDS = (r"服务标准|标准|规范|要求|做法|service standards?|standards?|best practices?|guidelines?|"
                  r"requirements?|expectations?|do'?s|what to do|practices?")
CAUTION_WORDS = (r"注意事项|注意|禁忌|避免|cautions?|pitfalls?|don'?ts|what to avoid|avoid|watch[- ]outs?|"
                 r"common mistakes|mistakes to avoid|warnings?|red flags")
SECTION = re.compile(rf"^(?P<title>(?P<std>{STANDARD_WORDS})|(?P<cau>{CAUTION_WORDS}))\s*[:：]?\s*(?P<rest>.*)$",
                     re.IGNORECASE)
NUMBERED = re.compile(r"^[(（]?(?P<n>\d{1,2})\s*[.、．)）]\s*(?!\d)(?P<body>\S.*)$")
# Inline structure in a long scraped line: a stage marker, a section word or an item number right after the end
# of a sentence (Chinese punctuation), so "…基础。二、需求…" and "…服务标准：1.客户…" split where a person would.
INLINE_BREAK = re.compile(
    rf"(?<=[。！？；：:!?”])\s*(?=(?:[{CN_NUMERALS}]{{1,3}}、|(?:服务标准|注意事项)\s*[:：]|\d{{1,2}}[.、．](?!\d)))"
)
INLINE_BREAK_EN = re.compile(r"(?<=[.!?:])\s+(?=\d{1,2}[.)]\s+[A-Z])")
# An item that names itself: "Standard 1.1 — Greet every customer." / "Caution 2: …" / "注意事项3：…".
LABELLED = re.compile(
    rf"^(?P<label>(?P<cau>{CAUTION_WORDS})|(?:{STANDARD_WORDS}|rule))\s*(?P<num>\d{{1,2}}(?:\.\d{{1,2}})*)\s*"
    r"[—–\-:：.]\s*(?P<body>\S.*)$",
    re.IGNORECASE,
)
TITLE_SPLIT = re.compile(r"^(?P<title>[^:：。.!?！？]{1,60}?)\s*[:：]\s*(?P<text>\S.*)$")
DEFAULT_NAMES = {
    "zh": {"intro": "阶段目标", "standard": "服务标准", "caution": "注意事项", "stage": "第{}部分"},
    "en": {"intro": "Stage goal", "standard": "Standards", "caution": "Cautions", "stage": "Part {}"},
}
# A short paragraph in bold, on its own, is a heading in a document written without heading styles; it ranks below
# every real heading level.
BOLD_HEADING_LEVEL = 7
ENRICHMENT_LABELS = {
    "zh": {"hints": "检索提示", "do": "做法", "avoid": "避免", "say": "话术"},
    "en": {"hints": "Search hints", "do": "Do", "avoid": "Avoid", "say": "Say"},
}
ENRICHMENT_LINE = re.compile(r"^>\s*[^:：]{1,30}[:：]")


class ImportError_(BadRequestError):
    """A document cannot be imported; the message says why and what to send instead."""


@dataclass
class Block:
    """One paragraph of the source: a heading (with its level), a numbered paragraph, or text."""

    text: str
    level: int | None = None
    numbered: bool = False
    lead: str = ""  # a bold run that opens the paragraph: often the item's title


@dataclass
class FoundItem:
    """An item as found in the document, before it gets its id."""

    kind: str  # intro | standard | caution
    title: str
    lines: list[str]
    stage: int  # index of its stage in the document, from 1
    id: str = ""
    label: str = ""  # the document's own name for the item, when it has one ("Standard 2.3")
    kept: dict[str, str] = field(default_factory=dict)  # enrichment a person added to the previous import

    @property
    def text(self) -> str:
        """Return the item's text, paragraphs separated by blank lines."""
        return "\n\n".join(line for line in self.lines if line.strip())


@dataclass
class FoundStage:
    """A stage or chapter as found."""

    heading: str
    title: str
    number: int = 0
    section_titles: dict[str, str] = field(default_factory=dict)


@dataclass
class Imported:
    """The result of an import: the Markdown to write and what was found."""

    markdown: str
    lang: str
    title: str
    prefix: str
    stages: list[FoundStage]
    items: list[FoundItem]
    defects: list[Defect]
    warnings: list[str]
    kept_ids: int = 0
    new_ids: int = 0
    source_sha256: str = ""

    def counts(self) -> Counter[str]:
        """Return how many items of each kind were found."""
        return Counter(item.kind for item in self.items)

    def report_lines(self) -> list[str]:
        """Return what was found, for people (the CLI prints it, the web page shows it)."""
        counts = self.counts()
        lines = [
            f"language: {self.lang}",
            f"title: {self.title}",
            f"structure: {len(self.stages)} stages, {counts['standard']} standards, {counts['caution']} cautions, "
            f"{counts['intro']} stage goals ({len(self.items)} items)",
        ]
        if self.kept_ids or self.new_ids:
            lines.append(f"ids: {self.kept_ids} kept from the previous import, {self.new_ids} new")
        for stage in self.stages:
            mine = [i for i in self.items if i.stage == stage.number]
            kinds = Counter(i.kind for i in mine)
            lines.append(f"  stage {stage.number} {stage.title}: {kinds['intro']} goal, {kinds['standard']} "
                         f"standards, {kinds['caution']} cautions")
            lines += [f"    {i.id}  {i.title}" for i in mine]
        lines += [f"defect: {d.describe()}" for d in self.defects] or ["defects: none found"]
        lines += [f"warning: {w}" for w in self.warnings]
        return lines


# --- reading -----------------------------------------------------------------------------------------------------

def read_blocks(data: bytes, filename: str) -> list[Block]:
    """Read a file's paragraphs with the parser its type calls for."""
    suffix = Path(filename).suffix.lower()
    if suffix not in SUPPORTED:
        raise ImportError_(f"unsupported file type {suffix or '(none)'!r}; import .md, .txt, .docx or .pdf")
    if not data.strip():
        raise ImportError_(f"{Path(filename).name} is empty; send a document with text in it")
    if suffix == ".docx":
        return _read_docx(data, filename)
    if suffix == ".pdf":
        return _read_pdf(data, filename)
    text = _decode(data, filename)
    if suffix in (".md", ".markdown"):
        return _read_markdown(text)
    return [Block(line) for line in text.split("\n")]


def _decode(data: bytes, filename: str) -> str:
    for codec in ("utf-8-sig", "gb18030", "big5"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    raise ImportError_(f"{Path(filename).name} is not UTF-8, GB18030 or Big5 text; save it as UTF-8")


def _read_markdown(text: str) -> list[Block]:
    blocks = []
    for line in text.split("\n"):
        heading = re.match(r"^(#{1,6})\s+(.+?)\s*#*\s*$", line)
        if heading:
            title = heading.group(2)
            own_id = ITEM_HEADING.match(line)
            if own_id:  # a heading in our own format: keep the title, the id is assigned again
                title = own_id.group(4)
            blocks.append(Block(title, level=len(heading.group(1))))
        elif re.match(r"^\s*(<!--.*-->\s*)$", line) or ENRICHMENT_LINE.match(line):
            continue  # comments and our own enrichment lines are not source text
        else:
            bold = re.match(r"^\s*\*\*(.+?)\*\*\s*(.*)$", line)
            if bold and not bold.group(2) and _looks_like_heading(bold.group(1)):
                blocks.append(Block(bold.group(1).strip(), level=BOLD_HEADING_LEVEL))
            elif bold:
                blocks.append(Block(f"{bold.group(1)} {bold.group(2)}".strip(), lead=bold.group(1).strip()))
            else:
                blocks.append(Block(line))
    return blocks


def _looks_like_heading(text: str) -> bool:
    text = text.strip()
    return 0 < len(text) <= 80 and not re.search(r"[.。!?！？;；,，]$", text) and not NUMBERED.match(text)


def _read_docx(data: bytes, filename: str) -> list[Block]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError) as exc:
        raise ImportError_(f"{Path(filename).name} is not a readable .docx file; save it again from Word") from exc
    except Exception as exc:  # python-docx raises zipfile and lxml errors on a damaged file
        raise ImportError_(f"{Path(filename).name} is not a readable .docx file; save it again from Word") from exc
    blocks = []
    from docx.table import Table

    for part in document.iter_inner_content():  # paragraphs and tables in document order
        if isinstance(part, Table):
            for row in part.rows:
                cells = list(dict.fromkeys(c.text.strip() for c in row.cells if c.text.strip()))
                if cells:
                    blocks.append(Block(" — ".join(cells)))
            continue
        paragraph = part
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        text = paragraph.text.strip()
        if not text:
            continue
        level = None
        if style == "Title":
            level = 1
        elif style.startswith("Heading"):
            digits = re.findall(r"\d+", style)
            level = int(digits[0]) + 1 if digits else 2  # Heading 1 sits under the document title
        p_pr = paragraph._p.pPr  # noqa: SLF001 - Word's own list numbering is not in the text
        # Word's numbering (numPr) makes bullets too; a bullet is part of an item's text, a number starts an item.
        numbered = style.startswith("List Number") or (
            p_pr is not None and p_pr.numPr is not None and "Bullet" not in style
        )
        lead = ""
        for run in paragraph.runs:  # the bold runs that open the paragraph
            if not run.bold:
                break
            lead += run.text
        if level is None and lead.strip() == text and _looks_like_heading(text):
            level = BOLD_HEADING_LEVEL
        blocks.append(Block(text, level=level, numbered=numbered and level is None,
                            lead=lead.strip() if lead.strip() != text else ""))
    return blocks


def _read_pdf(data: bytes, filename: str) -> list[Block]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [(page.extract_text() or "") for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise ImportError_(f"{Path(filename).name} is not a readable PDF; export it again") from exc
    # A line on most pages (a running header or footer) or a bare page number is the page, not the document.
    per_page = [[line.strip() for line in page.split("\n")] for page in pages]
    seen = Counter(line for lines in per_page for line in set(lines) if line)
    repeated = {line for line, n in seen.items() if len(pages) >= 3 and n >= 0.6 * len(pages)}
    blocks = []
    for lines in per_page:
        for line in lines:
            if line in repeated or re.fullmatch(r"(page\s*)?\d{1,4}(\s*(/|of)\s*\d{1,4})?|[-–]\s*\d+\s*[-–]", line,
                                                re.IGNORECASE):
                continue
            blocks.append(Block(line))
    return _join_wrapped(blocks)


def _join_wrapped(blocks: list[Block]) -> list[Block]:
    """Join the lines a PDF wrapped mid-sentence back into paragraphs."""
    out: list[Block] = []
    for block in blocks:
        text = block.text
        if not text:
            out.append(block)
            continue
        # Judge on the text without the spaces a PDF puts between Chinese characters (cleaning reports those).
        prev = SPACED_CJK.sub("", CONTROL.sub("", out[-1].text)) if out else ""
        probe = SPACED_CJK.sub("", CONTROL.sub("", text))
        starts_new = bool(STAGE.match(probe) or SECTION.match(probe) or NUMBERED.match(probe) or probe[:1] == "•")
        if prev and not starts_new and not re.search(r"[.!?:。！？：]$", prev) and len(prev) > 30:
            joiner = "" if re.search(r"[\u3400-\u9fff]$", prev) else " "
            out[-1] = Block(prev + joiner + text)
        else:
            out.append(block)
    return out


# --- structure ---------------------------------------------------------------------------------------------------

def _split_inline(text: str, lang: str) -> list[str]:
    pattern = INLINE_BREAK if lang == "zh" else INLINE_BREAK_EN
    return [part.strip() for part in pattern.split(text) if part.strip()]


def _stage_title(match: re.Match[str], lang: str) -> tuple[str, str, str]:
    """Return (heading as written, title, text that ran on after the title in a scraped line)."""
    marker = match.group(0)[: match.start("title")]
    rest = match.group("title").strip()
    if lang == "zh" and (len(rest) > 30 or re.search(r"[。，；]", rest)):
        # A scrape runs the stage title into its first sentence: "…接触阶段此阶段的核心目标是…".
        end = rest.find("阶段", 2)
        cut = end + 2 if 0 < end <= 30 else next((i for i, ch in enumerate(rest) if ch in "，。：:"), 20)
        title, tail = rest[:cut], rest[cut:]
    else:
        title, tail = rest, ""
    return (marker + title).strip(), title.strip(" :：-—–"), tail.strip()


def _title_and_text(body: str, lang: str) -> tuple[str, str]:
    split = TITLE_SPLIT.match(body)
    limit = 24 if lang == "zh" else 60
    if split and len(split.group("title")) <= limit:
        return split.group("title").strip(), split.group("text").strip()
    sentence = re.split(r"(?<=[。！？.!?])\s*", body, maxsplit=1)[0].rstrip("。.!?！？ ")
    if len(sentence) <= limit:
        return sentence, body
    words = sentence[:limit] if lang == "zh" else " ".join(sentence.split()[:8])
    return words.rstrip("，,、;；") + "…", body


Structure = tuple[str, list[str], list[FoundStage], list[FoundItem], list[str]]


def find_structure(blocks: list[Block], lang: str) -> Structure:
    """Return (title, preamble, stages, items, warnings) found in the blocks."""
    warnings: list[str] = []
    headings = [b for b in blocks if b.level is not None]
    title = ""
    if headings:
        top = min(b.level for b in headings if b.level is not None)
        first = next(b for b in blocks if b.text.strip())
        if first.level == top and sum(1 for b in headings if b.level == top) == 1:
            title = first.text
            blocks = [b for b in blocks if b is not first]
            headings = [b for b in headings if b is not first]
    generic = sorted({b.level for b in headings if b.level is not None
                      and not SECTION.fullmatch(b.text.strip().rstrip(":：")) and not STAGE.match(b.text)})
    has_numbered = any(b.numbered or (b.level is None and (NUMBERED.match(b.text.strip())
                                                          or LABELLED.match(b.text.strip()))) for b in blocks)
    stage_pattern_headings = any(STAGE.match(b.text) for b in headings)
    if len(generic) >= 2:
        stage_level, item_level = generic[0], generic[-1]
    elif len(generic) == 1:
        if has_numbered and not stage_pattern_headings:
            stage_level, item_level = generic[0], None
        else:
            stage_level, item_level = None, generic[0]
    else:
        stage_level, item_level = None, None

    stages: list[FoundStage] = []
    items: list[FoundItem] = []
    preamble: list[str] = []
    kind = "standard"
    current: FoundItem | None = None

    def new_stage(heading: str, stage_title: str) -> None:
        nonlocal kind, current
        stages.append(FoundStage(heading=heading, title=stage_title, number=len(stages) + 1))
        kind, current = "standard", None

    def ensure_stage() -> None:
        if not stages:
            name = title or DEFAULT_NAMES[lang]["stage"].format(1)
            new_stage(name, name)

    def add_body(text: str) -> None:
        nonlocal current
        if current is not None:
            current.lines.append(text)
        elif stages:
            intro = next((i for i in items if i.stage == len(stages) and i.kind == "intro"), None)
            if intro is None:
                current = FoundItem("intro", DEFAULT_NAMES[lang]["intro"], [text], len(stages))
                items.append(current)
            else:
                intro.lines.append(text)
        else:
            preamble.append(text)

    def add_item(item_title: str, text: str, item_kind: str | None = None) -> None:
        nonlocal current
        ensure_stage()
        current = FoundItem(item_kind or kind, item_title, [text] if text else [], len(stages))
        items.append(current)

    add_item.found = items  # type: ignore[attr-defined]

    def section(match: re.Match[str]) -> str:
        nonlocal kind, current
        ensure_stage()
        kind = "caution" if match.group("cau") else "standard"
        stages[-1].section_titles.setdefault(kind, match.group("title"))
        current = None
        return match.group("rest").strip()

    for block in blocks:
        raw = block.text.strip()
        if not raw:
            continue
        if block.level is not None:
            sec = SECTION.fullmatch(raw.rstrip(":："))
            if sec:
                section(sec)
                continue
            stage_match = STAGE.match(raw)
            if block.level == stage_level or (stage_match and block.level != item_level):
                if stage_match:
                    heading, stage_title, _ = _stage_title(stage_match, lang)
                    new_stage(raw, stage_title or raw)
                else:
                    new_stage(raw, raw)
            elif block.level == item_level or item_level is None:
                add_item(raw, "")
            else:  # a heading between stage and item level: a section of standards
                ensure_stage()
                kind, current = "standard", None
            continue
        parts = _split_inline(raw, lang)
        for part in parts:
            stage_match = STAGE.match(part)
            if stage_match and stage_level is None and item_level is None and (
                stage_match.group("cn") or stage_match.group("cn2") or len(part) < 80
            ):
                heading, stage_title, tail = _stage_title(stage_match, lang)
                new_stage(heading, stage_title)
                if tail:
                    add_body(tail)
                continue
            sec = SECTION.match(part)
            if sec and (sec.group("rest") == "" or part[len(sec.group("title")):].lstrip().startswith((":", "："))):
                rest = section(sec)
                if rest:
                    parts_rest = _split_inline(rest, lang)
                    for piece in parts_rest:
                        _numbered_or_body(piece, block, lang, add_item, add_body)
                continue
            _numbered_or_body(part, block, lang, add_item, add_body)

    for item in items:
        if not item.text:
            if item.kind != "intro":
                item.lines = [item.title]
                warnings.append(f"item {item.title!r} has a title and no text; its title is its text")
    if items and not re.search(r"[。！？.!?”\")）]$", items[-1].text):
        warnings.append(f"the document seems cut off: the last item ({items[-1].title!r}) ends mid-sentence")
    return title, preamble, stages, [i for i in items if i.text], warnings


def _numbered_or_body(part, block, lang, add_item, add_body) -> None:  # type: ignore[no-untyped-def]
    labelled = LABELLED.match(part)
    if labelled:
        kind = "caution" if labelled.group("cau") else "standard"
        body = labelled.group("body")
        lead = LABELLED.match(block.lead) if block.lead and part.startswith(block.lead[:10]) else None
        if lead:  # "**Standard 1.1 — Greet every customer.** Any customer who…": the bold part is the title
            title = lead.group("body").strip().rstrip(".。:：")
            text = part[len(block.lead):].strip() or title
            add_item(title, text, kind)
        else:
            add_item(*_title_and_text(body, lang), kind)
        add_item.found[-1].label = f"{labelled.group('label')} {labelled.group('num')}"  # type: ignore[attr-defined]
        return
    numbered = NUMBERED.match(part)
    if numbered or block.numbered:
        body = numbered.group("body") if numbered else part
        item_title, text = _title_and_text(body, lang)
        add_item(item_title, text)
    else:
        add_body(part)


# --- ids ---------------------------------------------------------------------------------------------------------

def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def prefix_for(out: Path) -> str:
    """Return the id prefix for an output file: none for standards.*.md, else its name (retail.en.md -> retail.)."""
    stem = re.sub(r"\.(zh|en)$", "", out.name.removesuffix(".md"))
    if stem == "standards":
        return ""
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    if not slug or not slug[0].isalpha():
        slug = "doc-" + hashlib.sha256(stem.encode("utf-8")).hexdigest()[:6] if not slug else f"doc-{slug}"
    return slug + "."


def assign_ids(stages: list[FoundStage], items: list[FoundItem], prefix: str, lang: str,
               previous: Path | None) -> tuple[int, int]:
    """Give every stage a number and every item an id, keeping those of the previous import where they match.

    Returns (ids kept, ids new). A new item never takes an id the previous import used: questions, learned
    phrases and reviewed enrichment attached to an id keep meaning the same thing.
    """
    old = []
    if previous is not None and previous.exists():
        try:
            old = parse_standards(previous, lang)
        except KnowledgeError:
            old = []
    old = [o for o in old if o.id.startswith(prefix) and re.fullmatch(r"s\d+\..+", o.id[len(prefix):])]
    old_stage_titles = {o.stage: o.stage_title for o in old}
    used_stages: set[int] = set(old_stage_titles)
    # Stages: the same title keeps its number; else the stage most of whose items are unchanged.
    by_text = {_norm(o.text): o for o in old}
    for stage in stages:
        match = next((n for n, t in old_stage_titles.items() if _norm(t) in (_norm(stage.heading), _norm(stage.title))),
                     None)
        if match is None:
            votes = Counter(by_text[_norm(i.text)].stage for i in items
                            if i.stage == stage.number and _norm(i.text) in by_text)
            match = votes.most_common(1)[0][0] if votes else None
        stage.number = -match if match is not None else 0  # negative: decided, fixed below
    taken = {-s.number for s in stages if s.number < 0}
    next_free = max(used_stages | taken | {0}) + 1
    order = {id(s): n for n, s in enumerate(stages, start=1)}
    for stage in stages:
        if stage.number < 0:
            stage.number = -stage.number
        elif not old and order[id(stage)] not in taken:
            stage.number = order[id(stage)]
        else:
            stage.number, next_free = next_free, next_free + 1
    numbers = {n: s.number for n, s in enumerate(stages, start=1)}
    for item in items:
        item.stage = numbers[item.stage]

    used = {o.id for o in old}
    claimed: set[str] = set()
    kept = 0
    enrichment = {o.id: {"hints": o.hints, "do": o.do, "avoid": o.avoid, "say": o.say} for o in old}

    def family(item: FoundItem) -> str:
        return f"{prefix}s{item.stage}." + ("intro" if item.kind == "intro" else item.kind)

    # Pass 1: unchanged text in the same stage and kind; pass 2: the same title (an edited item).
    for by in ("text", "title"):
        candidates: dict[tuple[str, str], list[str]] = {}
        for o in old:
            fam = o.id if o.kind == "intro" else o.id.rsplit(".", 1)[0]
            title = o.title.split("：")[-1].split(": ")[-1] if o.kind == "intro" else o.title
            candidates.setdefault((fam, _norm(o.text if by == "text" else title)), []).append(o.id)
        for item in items:
            if item.id:
                continue
            probe = _norm(item.text if by == "text" else item.title)
            oid = next((o for o in candidates.get((family(item), probe), []) if o not in claimed), None)
            if oid is not None:
                item.id = oid
                claimed.add(oid)
                kept += 1
    counters: dict[str, int] = {}
    for item in items:
        if item.id:
            continue
        fam = family(item)
        if item.kind == "intro":  # one goal per stage: a changed goal keeps its stage's id
            item.id = fam
            kept += fam in used
            claimed.add(fam)
            continue
        n = counters.get(fam, 0) + 1
        while f"{fam}.{n}" in used | claimed:
            n += 1
        counters[fam] = n
        item.id = f"{fam}.{n}"
        claimed.add(item.id)
    for item in items:  # lines a person added under an item survive the re-import of its document
        item.kept = {k: v for k, v in enrichment.get(item.id, {}).items() if v}
    return kept, len(items) - kept


# --- writing -----------------------------------------------------------------------------------------------------

def _safe_line(line: str) -> str:
    # A source line starting with '#' or '>' would read as a heading or enrichment: keep its words only.
    return re.sub(r"^[#>\s]+", "", line) if re.match(r"^\s*[#>]", line) else line


def to_markdown(imported: Imported, source_name: str) -> str:
    """Write the knowledge folder's Markdown: stages (##), sections (###), items (#### id title), source text."""
    names = DEFAULT_NAMES[imported.lang]
    lines = [f"# {imported.title}", ""]
    safe_name = re.sub(r"[^\w.-]", "_", source_name)
    lines += [
        f"<!-- {IMPORT_MARKER} lang={imported.lang} source={safe_name} "
        f"sha256={imported.source_sha256[:16]} -->",
        "<!-- Written by `coach import`. The ids in the headings are stable: importing the document again keeps the "
        "id of every unchanged item. Item text is the source text. -->",
        "",
    ]
    for stage in sorted(imported.stages, key=lambda s: s.number):
        mine = [i for i in imported.items if i.stage == stage.number]
        if not mine:
            continue
        lines += [f"## {_safe_line(stage.heading)}", ""]
        kind = None
        for item in sorted(mine, key=lambda i: {"intro": 0, "standard": 1, "caution": 2}[i.kind]):
            if item.kind == "intro":
                lines += [f"### {item.id} {names['intro']}", ""]
            else:
                if item.kind != kind:
                    kind = item.kind
                    lines += [f"### {stage.section_titles.get(kind, names[kind])}", ""]
                lines += [f"#### {item.id} {_safe_line(item.title)}", ""]
            lines += [_safe_line(p) for p in item.text.split("\n")] + [""]
            if item.kept:
                labels = ENRICHMENT_LABELS[imported.lang]
                lines += [f"> {labels[k]}: {v}" for k, v in item.kept.items()] + [""]
    return "\n".join(lines).rstrip() + "\n"


def import_document(data: bytes, filename: str, out: Path, lang: str = "auto") -> Imported:
    """Read, repair and structure a document; return the Markdown for `out` and the report (nothing is written)."""
    blocks = read_blocks(data, filename)
    blocks = [Block(" ".join(b.text.split("\n")), b.level, b.numbered, b.lead) for b in blocks]
    sample = "\n".join(b.text for b in blocks)
    if not sample.strip():
        raise ImportError_(f"{Path(filename).name} has no text (a scanned PDF needs OCR first)")
    if lang not in ("auto", "zh", "en"):
        raise ImportError_(f"unknown language {lang!r}; use auto, zh or en")
    language = detect_language(sample) if lang == "auto" else lang
    cleaned = clean(sample, language)
    # Cleaning keeps one output line per input line, so headings and list numbering keep their place.
    lines = cleaned.text.split("\n")
    assert len(lines) == len(blocks)
    repaired = [Block(line, b.level, b.numbered, b.lead) for line, b in zip(lines, blocks, strict=True)]
    title, preamble, stages, items, warnings = find_structure(repaired, language)
    if not items:
        raise ImportError_(
            f"no standards found in {Path(filename).name}: use headings, numbered paragraphs (1. Title: text) or "
            "stage headings (Stage 1 …, 一、…)"
        )
    title = title or Path(filename).stem
    prefix = prefix_for(out)
    kept_ids, new_ids = assign_ids(stages, items, prefix, language, out)
    seen: Counter[str] = Counter(i.title for i in items if i.kind != "intro")
    warnings += [f"{n} items share the title {t!r}" for t, n in seen.items() if n > 1]
    imported = Imported(
        markdown="", lang=language, title=title, prefix=prefix, stages=stages, items=items,
        defects=cleaned.defects, warnings=warnings, kept_ids=kept_ids if out.exists() else 0,
        new_ids=new_ids if out.exists() else 0, source_sha256=hashlib.sha256(data).hexdigest(),
    )
    imported.markdown = to_markdown(imported, Path(filename).name)
    if preamble:
        head, rest = imported.markdown.split("\n\n", 1)
        imported.markdown = head + "\n\n" + rest.replace("-->\n\n", "-->\n\n" + "\n\n".join(preamble) + "\n\n", 1)
    return imported


def default_out(knowledge_dir: Path, filename: str, lang: str) -> Path:
    """Return knowledge/<name>.<lang>.md for a source file."""
    stem = re.sub(r"[^a-z0-9]+", "-", Path(filename).stem.lower()).strip("-") or "imported"
    return knowledge_dir / f"{stem}.{lang}.md"


def import_file(data: bytes, filename: str, knowledge_dir: Path, out: Path | None = None, lang: str = "auto",
                write: bool = True) -> tuple[Imported, Path]:
    """Import a document into the knowledge folder (or `out`); with `write` off, only report what was found."""
    if out is None:
        sample = "\n".join(b.text for b in read_blocks(data, filename))
        out = default_out(knowledge_dir, filename, detect_language(sample) if lang == "auto" else lang)
    if out.exists() and imported_language(out) is None:
        raise ImportError_(f"{out.name} exists and was not written by `coach import` (it may hold hand-written "
                           "text); import to another file (--out)")
    result = import_document(data, filename, out, lang)
    if write:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(result.markdown, encoding="utf-8")
        tmp.replace(out)  # atomic: an ingest running now reads the old file or the new one, never half of one
    return result, out

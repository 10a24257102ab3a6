"""Find and repair the defects a document scraped from the web carries: page chrome, pinyin, traditional
characters in a simplified document, mojibake. Each finding is reported; a fix is applied only where it is safe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import ftfy

CJK = re.compile(r"[\u3400-\u9fff]")
# Pinyin in parentheses right after a Chinese character, e.g. 服務(wù): tone marks make it unmistakable, and a
# parenthesised English word such as (CRM) or (app) has none.
TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ"
PINYIN = re.compile(rf"(?<=[\u3400-\u9fff])[(（]([a-zü{TONED}]*[{TONED}][a-zü{TONED}]*)[)）]")
# Words that mark a line as part of a web page around the document rather than the document itself. A line
# is chrome only when it is short or starts with one of these, so a standard that mentions "share" survives.
CHROME_WORDS = re.compile(
    r"(版[权權]|侵[权權]|举报|舉報|免[责責]声明|分享到|上一篇|下一篇|相[关關]文[档檔]|最新文[档檔]|[评評]论|"
    r"提交[评評]论|下[载載]|登[录錄]|注[册冊]|首页|首頁|本站|收藏|[温溫]馨提示|文[档檔]简介|文[档檔]簡介|"
    r"\b(?:copyright|all rights reserved|privacy policy|terms of (?:use|service)|cookies?|share (?:this|on))\b|©|"
    r"\b(?:sign in|log ?in|subscribe|newsletter|skip to (?:main )?content|related (?:posts|articles|documents)|"
    r"you may also like|back to top|follow us)\b|\bhome\s*[>›»/])",
    re.IGNORECASE,
)
# Where a document-sharing site starts and ends the document it shows.
BODY_START = re.compile(r"^\s*(文[档檔]简介|文[档檔]簡介|document (description|summary))\s*[:：]?\s*$", re.IGNORECASE)
BODY_END = re.compile(r"^\s*([温溫]馨提示|最新文[档檔]|related documents)\s*[:：]?\s*$", re.IGNORECASE)
# Bytes lost in a wrong decoding: runs of "?" or U+FFFD beside Chinese text, or bopomofo inside a sentence.
LOST_BYTES = re.compile(r"(?:[\u3400-\u9fff][?\ufffd]{2,}|[?\ufffd]{2,}[\u3400-\u9fff]|\ufffd|[\u3105-\u312f])")
# A numbered line or a heading is document structure, never chrome.
NUMBERED = re.compile(r"^(#|\d{1,2}[.、．)]|[一二三四五六七八九十]{1,3}、)")
HALF_WIDTH = {",": "，", ":": "：", ";": "；", "?": "？", "!": "！", "(": "（", ")": "）"}
HALF_WIDTH_IN_CHINESE = re.compile(r"(?<=[\u3400-\u9fff）”])([,:;?!])(?=[\u3400-\u9fff“”（\d]|$)")
# A PDF text layer often puts a space between every two Chinese characters (一 、 门 店).
CJK_OR_PUNCT = r"[\u3400-\u9fff\u3000-\u303f\uff01-\uff0f\uff1a-\uff20“”‘’]"
SPACED_CJK = re.compile(rf"(?<={CJK_OR_PUNCT})[ \t]+(?={CJK_OR_PUNCT})")
# NUL and other control characters: UTF-16 text read a byte at a time (a PDF text layer), or binary debris.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
PAREN_IN_CHINESE = re.compile(r"(?<=[\u3400-\u9fff])\(([^()\n]{1,40})\)")


@dataclass
class Defect:
    """One kind of defect found in a document: how often, a few examples, and whether it was repaired."""

    kind: str
    count: int
    fixed: bool
    examples: list[str] = field(default_factory=list)
    note: str = ""

    def describe(self) -> str:
        """Return one line for people."""
        state = "fixed" if self.fixed else "NOT fixed"
        shown = "; ".join(self.examples[:3])
        return f"{self.kind}: {self.count} ({state}){' — ' + self.note if self.note else ''}" + (
            f"  e.g. {shown}" if shown else ""
        )


@dataclass
class Cleaned:
    """A document's text after repair, and what was found."""

    text: str
    defects: list[Defect]


@lru_cache(maxsize=2)
def _opencc(config: str):  # type: ignore[no-untyped-def]
    from opencc import OpenCC

    return OpenCC(config)


def _clip(text: str, around: int, width: int = 24) -> str:
    start = max(0, around - width)
    return text[start : around + width].replace("\n", " ")


def strip_chrome(lines: list[str]) -> tuple[list[str], Defect | None]:
    """Blank the page around the document: what precedes a body-start marker, what follows an end marker,
    and short lines made of site words (copyright, share, sign in, related documents ...).

    Lines are blanked, not removed, so that line n of the output is still line n of the input.
    """
    start = next((i + 1 for i, line in enumerate(lines) if BODY_START.match(line)), 0)
    end = next((i for i, line in enumerate(lines) if i >= start and BODY_END.match(line)), len(lines))
    dropped: list[str] = []
    kept: list[str] = []
    for n, line in enumerate(lines):
        stripped = line.strip()
        chrome = CHROME_WORDS.search(stripped)
        outside = n < start or n >= end
        if stripped and (outside or (chrome and (len(stripped) <= 80 or chrome.start() == 0)
                                     and not NUMBERED.match(stripped))):
            dropped.append(stripped)
            kept.append("")
        else:
            kept.append(line)
    if not dropped:
        return lines, None
    examples = [d[:60] + ("…" if len(d) > 60 else "") for d in dropped]
    return kept, Defect("page chrome (lines removed)", len(dropped), True, examples)


def strip_pinyin(text: str) -> tuple[str, Defect | None]:
    """Remove tone-marked pinyin in parentheses after Chinese characters (服務(wù) -> 服務)."""
    found = [_clip(text, m.start(), 8) for m in PINYIN.finditer(text)]
    if not found:
        return text, None
    return PINYIN.sub("", text), Defect("pinyin in parentheses", len(found), True, found)


def simplify(text: str) -> tuple[str, Defect | None]:
    """Convert traditional characters to simplified when they sit in a document that is otherwise simplified.

    A wholly traditional document (a Taiwan or Hong Kong company's) is reported and kept as it is: converting
    it would rewrite the company's own text.
    """
    to_simplified = _opencc("t2s").convert(text)
    traditional = [i for i, (a, b) in enumerate(zip(text, to_simplified, strict=True)) if a != b]
    if not traditional:
        return text, None
    to_traditional = _opencc("s2t").convert(text)
    simplified = sum(1 for a, b in zip(text, to_traditional, strict=True) if a != b)
    examples = [f"{text[i]}→{to_simplified[i]}" for i in traditional[:12]]
    examples = list(dict.fromkeys(examples))
    if simplified >= 3 and simplified >= 0.02 * len(traditional):
        return to_simplified, Defect("traditional characters in a simplified document", len(traditional), True,
                                     examples, note=f"{simplified} simplified-only characters show the intended "
                                                    "script; converted with OpenCC t2s")
    return text, Defect("traditional Chinese document", len(traditional), False, examples,
                        note="the whole document is traditional; kept as written")


def fix_mojibake(text: str) -> tuple[str, list[Defect]]:
    """Repair text decoded with the wrong codec (ftfy), line by line; report lost bytes that cannot be repaired."""
    defects: list[Defect] = []
    fixed_lines, examples = [], []
    for line in text.split("\n"):
        repaired, explanation = ftfy.fix_encoding_and_explain(line)
        if explanation and repaired != line:
            start = next(i for i, (a, b) in enumerate(zip(line, repaired, strict=False)) if a != b) \
                if any(a != b for a, b in zip(line, repaired, strict=False)) else 0
            examples.append(f"{_clip(line, start, 10)} → {_clip(repaired, start, 10)}")
        fixed_lines.append(repaired)
    if examples:
        defects.append(Defect("mojibake (wrong codec)", len(examples), True, examples, note="repaired with ftfy"))
    out = "\n".join(fixed_lines)
    starts = [m.start() for m in LOST_BYTES.finditer(out)]
    lost = [_clip(out, at, 12) for n, at in enumerate(starts) if n == 0 or at - starts[n - 1] > 12]
    if lost:
        defects.append(Defect("mojibake with lost bytes", len(lost), False, lost,
                              note="the original characters cannot be recovered; edit the output by hand"))
    return out, defects


def join_spaced_chinese(text: str) -> tuple[str, Defect | None]:
    """Remove the spaces a PDF's text layer put between Chinese characters."""
    found = [m.start() for m in SPACED_CJK.finditer(text)]
    if len(found) < 5:  # a stray space or two is the author's
        return text, None
    examples = [_clip(text, at, 6) for at in found[:3]]
    return SPACED_CJK.sub("", text), Defect("spaces between Chinese characters", len(found), True, examples,
                                            note="a PDF text layer's spacing")


def full_width_punctuation(text: str) -> tuple[str, Defect | None]:
    """Use Chinese punctuation inside Chinese sentences (a scrape often turns ，into ,)."""
    hits = [_clip(text, m.start(), 6) for m in HALF_WIDTH_IN_CHINESE.finditer(text)]
    parens = [_clip(text, m.start(), 6) for m in PAREN_IN_CHINESE.finditer(text)]
    if not hits and not parens:
        return text, None
    text = PAREN_IN_CHINESE.sub(lambda m: f"（{m.group(1)}）", text)
    text = HALF_WIDTH_IN_CHINESE.sub(lambda m: HALF_WIDTH[m.group(1)], text)
    return text, Defect("half-width punctuation in Chinese text", len(hits) + len(parens), True, hits + parens)


def clean(text: str, lang: str) -> Cleaned:
    """Repair a document's text and say what was wrong with it (one output line per input line)."""
    found: list[Defect] = []
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    controls = len(CONTROL.findall(text))
    if controls:
        text = CONTROL.sub("", text)
        found.append(Defect("control characters (NUL …)", controls, True, note="removed"))
    text, mojibake = fix_mojibake(text)
    lines, chrome = strip_chrome(text.split("\n"))
    found += ([chrome] if chrome else []) + mojibake
    text = "\n".join(lines)
    steps = [join_spaced_chinese, strip_pinyin, simplify, full_width_punctuation] if lang == "zh" else [strip_pinyin]
    for step in steps:
        text, defect = step(text)
        if defect is not None:
            found.append(defect)
    return Cleaned(text=text, defects=found)

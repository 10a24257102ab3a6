"""Render a coaching answer (Markdown with inline [id] citations) as terminal text."""

from __future__ import annotations

import re
from typing import Any

import typer

BASED_ON = re.compile(r"^_(依据|Based on)[:：].*_$")
HEADER = re.compile(r"^\*\*(.+?)\*\*[:：]?$|^#{1,6}\s+(.+)$")
BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
BOLD = re.compile(r"\*\*(.+?)\*\*")
ITALIC = re.compile(r"(?<![\w*])_(.+?)_(?!\w)")
CITATION = re.compile(r"\s*\[([^\[\]\s]+)\]")
SOURCES = {"zh": "依据", "en": "Sources"}


def render_answer(answer: dict[str, Any]) -> str:
    """Return the answer with bold headers, bullet lines, [n] markers, and each citation listed once at the end.

    `answer` has the fields of the chat API (answer, citations, language); styling is ANSI, which
    typer.echo drops when the output is not a terminal.
    """
    citations = answer.get("citations") or []
    number = {c["id"]: n for n, c in enumerate(citations, start=1)}

    def cite(match: re.Match[str]) -> str:
        n = number.get(match[1])
        return f" [{n}]" if n else ("" if re.match(r"^(s\d+\.|playbook\.)", match[1]) else match[0])

    lines: list[str] = []
    for raw in str(answer.get("answer", "")).strip().splitlines():
        line = raw.rstrip()
        if BASED_ON.match(line.strip()):  # the sources are listed at the end instead
            continue
        header = HEADER.match(line.strip())
        if header:
            lines.append(typer.style(header[1] or header[2], bold=True))
            continue
        line = CITATION.sub(cite, line)
        line = BOLD.sub(lambda m: typer.style(m[1], bold=True), line)
        line = ITALIC.sub(lambda m: m[1], line)
        lines.append(BULLET.sub("  • ", line) if BULLET.match(line) else line)
    while lines and not lines[-1].strip():
        lines.pop()
    if citations:
        lines += ["", typer.style(SOURCES.get(str(answer.get("language")), SOURCES["en"]), bold=True)]
        lines += [f"  [{n}] {c['id']}  {c['title']}" for n, c in enumerate(citations, start=1)]
    return "\n".join(lines)

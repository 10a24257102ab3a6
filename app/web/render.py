"""Rendering: the Jinja2 environment, the page context (language, CSRF, who is signed in) and text formatting."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.responses import Response

from app.roleplay.scoring import breakdown_terms
from app.web.auth import csrf_token
from app.web.i18n import LANG_COOKIE, Translator, negotiate

TEMPLATES = Path(__file__).resolve().parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES))
ITEM_ID = r"(?:s\d+\.[a-z]+(?:\.\d+)?|playbook\.[\w.-]+)"
CITATION_TAG = re.compile(rf"\[({ITEM_ID}(?:\s*[,;]\s*{ITEM_ID})*)\]")
BOLD = re.compile(r"\*\*(.+?)\*\*")


def page_lang(request: Request) -> str:
    """Return the language of the page: the toggle's cookie, else the browser's Accept-Language."""
    return negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def is_htmx(request: Request) -> bool:
    """Return whether HTMX sent the request (so a fragment, not a whole page, is wanted)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def _context(request: Request) -> dict[str, Any]:
    lang = page_lang(request)
    rep = request.session.get("rep")
    return {
        "request": request, "lang": lang, "t": Translator(lang), "csrf": csrf_token(request),
        "rep": rep if isinstance(rep, str) else None, "trainer": request.session.get("trainer") is True,
        "path": request.url.path, "query": request.url.query,
    }


def render_fragment(request: Request, name: str, **context: Any) -> str:
    """Render a template to a string (e.g. for a server-sent event)."""
    return templates.get_template(name).render({**_context(request), **context})


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    """Render a template with the page context every template relies on."""
    lang = page_lang(request)
    response = templates.TemplateResponse(request, name, {**_context(request), **context}, status_code=status_code)
    response.headers["Content-Language"] = lang
    response.headers["Vary"] = "Accept-Language, Cookie"
    return response


def answer_html(text: str, anchor: str = "cite") -> Markup:
    """Format a coach answer (paragraphs, **bold**, "- " bullets, [id] citation tags) as safe HTML."""
    blocks: list[str] = []
    items: list[str] = []

    def inline(line: str) -> str:
        html = str(escape(line))
        html = BOLD.sub(r"<strong>\1</strong>", html)
        html = re.sub(r"^_(.+)_$", r"<em>\1</em>", html)
        return CITATION_TAG.sub(
            lambda m: " ".join(f'<a class="tag" href="#{anchor}-{i.strip()}">[{i.strip()}]</a>'
                               for i in re.split(r"[,;]", m.group(1))), html)

    def flush() -> None:
        if items:
            blocks.append("<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
            items.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("- ", "* ", "• ")):
            items.append(inline(stripped[2:]))
            continue
        flush()
        if stripped:
            blocks.append(f"<p>{inline(stripped)}</p>")
    flush()
    return Markup("".join(blocks))


def breakdown_line(t: Translator, row: dict[str, Any], position: int) -> str:
    """Say one line of a score's arithmetic in the page's language, whatever language the session was in."""
    terms = breakdown_terms(row, position)
    kind = terms["kind"]
    if f"card.b.{kind}" not in t.messages:
        return str(row.get("reason", ""))
    ids = ("、" if t.lang == "zh" else ", ").join(terms.get("ids") or []) or "–"
    outcome = t(f"outcome.{terms.get('outcome') or 'none'}")
    return t(f"card.b.{kind}", n=terms.get("n", 0), ids=ids, outcome=outcome, pct=terms.get("pct", 0))


templates.env.globals["breakdown_line"] = breakdown_line


def meter_level(value: int) -> str:
    """Return a word for a 0-100 meter, so the state is not told by colour alone."""
    return "low" if value < 34 else "mid" if value < 67 else "high"

"""One message catalogue per language (i18n/zh.json, i18n/en.json); the language comes from a cookie or the browser."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

CATALOGUES = Path(__file__).resolve().parent / "i18n"
LANGS = ("zh", "en")
DEFAULT_LANG = "en"
LANG_COOKIE = "coach_lang"


@lru_cache
def catalogue(lang: str) -> dict[str, str]:
    """Return the messages of one language."""
    data: dict[str, str] = json.loads((CATALOGUES / f"{lang}.json").read_text(encoding="utf-8"))
    return data


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """Return the page language: the cookie if valid, else the best Accept-Language match, else English."""
    if cookie in LANGS:
        return cookie
    best, best_q = DEFAULT_LANG, -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGS and q > best_q:
            best, best_q = primary, q
    return best


class Translator:
    """t("key", name=...) in templates: the message in the page language, with {placeholders} filled."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.messages = catalogue(lang)

    def __call__(self, key: str, **values: Any) -> str:
        text = self.messages.get(key) or catalogue(DEFAULT_LANG).get(key) or key
        return text.format(**values) if values else text

    def pick(self, texts: dict[str, str] | Any) -> str:
        """Return the page-language entry of a {"zh": ..., "en": ...} mapping."""
        if isinstance(texts, dict):
            return str(texts.get(self.lang) or next(iter(texts.values()), ""))
        return str(texts)

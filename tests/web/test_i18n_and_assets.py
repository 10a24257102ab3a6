"""Catalogues, language negotiation, vendored files and the no-external-URL rule."""

from __future__ import annotations

import hashlib
import json
import re
import string
from pathlib import Path

import pytest

from app.web.i18n import CATALOGUES, negotiate

WEB = Path(__file__).resolve().parents[2] / "app" / "web"
TEMPLATES = WEB / "templates"


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_zh_and_en_catalogues_have_the_same_keys_and_placeholders():
    zh = json.loads((CATALOGUES / "zh.json").read_text(encoding="utf-8"))
    en = json.loads((CATALOGUES / "en.json").read_text(encoding="utf-8"))
    assert set(zh) == set(en)
    assert {k: _placeholders(v) for k, v in zh.items()} == {k: _placeholders(v) for k, v in en.items()}
    assert all(v.strip() for v in [*zh.values(), *en.values()])


def test_every_key_a_template_or_page_uses_is_in_the_catalogue():
    en = json.loads((CATALOGUES / "en.json").read_text(encoding="utf-8"))
    used: set[str] = set()
    for path in [*TEMPLATES.rglob("*.html"), *WEB.glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"\bt\('([a-z_]+\.[a-z_]+)'[),]", text))
        used |= set(re.findall(r'"((?:hello|trainer)\.[a-z_]+)"', text)) - {"hello.html"}
        for prefix in re.findall(r"\bt\('([a-z_]+\.[a-z_]*)' ~", text):
            assert any(k.startswith(prefix) for k in en), prefix
    assert used - set(en) == set()


def test_no_template_references_an_external_url():
    offenders = [str(p.relative_to(WEB)) for p in [*TEMPLATES.rglob("*.html"), WEB / "static" / "app.css",
                                                    WEB / "static" / "app.js"]
                 if re.search(r"https?://", p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_vendored_files_match_their_versions_note():
    vendor = WEB / "static" / "vendor"
    rows = [line.split() for line in (vendor / "VERSIONS").read_text().splitlines() if not line.startswith("#")]
    assert {r[0] for r in rows} == {p.name for p in vendor.iterdir() if p.name != "VERSIONS"}
    for name, package, version, sha256 in rows:
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == sha256, name
        assert package and re.match(r"^\d+\.\d+\.\d+$", version)
    assert any(r[1] == "htmx.org" and r[2].startswith("2.") for r in rows)


@pytest.mark.parametrize(("cookie", "header", "expected"), [
    (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
    (None, "en-US,en;q=0.9", "en"),
    (None, "fr-FR,fr;q=0.9,zh-TW;q=0.5", "zh"),
    (None, "en;q=0.4, zh;q=0.8", "zh"),
    (None, "fr", "en"),
    (None, None, "en"),
    (None, "zh;q=bad, en", "en"),
    ("zh", "en-US", "zh"),
    ("xx", "zh", "zh"),
])
def test_language_negotiation(cookie, header, expected):
    assert negotiate(cookie, header) == expected

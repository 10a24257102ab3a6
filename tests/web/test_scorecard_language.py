"""A scorecard's arithmetic and rubric titles read in the page's language, whatever language the session was in."""

from __future__ import annotations

import re

import pytest
from markupsafe import escape

from app.roleplay.scoring import BREAKDOWN_KINDS, breakdown_terms
from app.web.i18n import Translator
from app.web.render import breakdown_line

ROWS = re.compile(r'<table class="data breakdown">.*?<tbody>(.*?)</tbody>', re.S)


def _played(rep, lang: str) -> str:
    start = rep.post("/practice/price-objection", data={"lang": lang, "csrf": rep.csrf}, follow_redirects=False)
    session = start.headers["location"]
    message = "您说得对，价格很重要。请问这20%是和哪家的什么方案比的？" if lang == "zh" else \
        "Fair point, price matters. What exactly is the 20% compared against?"
    rep.post(f"{session}/turns", data={"message": message, "csrf": rep.csrf})
    rep.post(f"{session}/turns", data={"message": "那我直接给您打九折吧。" if lang == "zh" else "OK, 10% off then.",
                                       "csrf": rep.csrf})
    rep.post(f"{session}/end", data={"csrf": rep.csrf})
    return f"{session}/scorecard"


def _breakdown(page: str) -> str:
    match = ROWS.search(page)
    assert match, "no breakdown table"
    return re.sub(r"<[^>]+>", " ", match.group(1))


@pytest.mark.parametrize("session_lang", ["zh", "en"])
def test_the_breakdown_follows_the_page_language(rep, session_lang):
    card = _played(rep, session_lang)
    english = _breakdown(rep.get(card, headers={"Accept-Language": "en"}).text)
    assert "Base" in english and "standard(s) followed: " in english and "1 violation(s)" in english
    assert "Outcome: ended early" in english and "% of objections resolved" in english
    assert re.search(r"[\u4e00-\u9fff]", english) is None
    rep.cookies.set("coach_lang", "zh")
    chinese = _breakdown(rep.get(card).text)
    assert "基础分" in chinese and "遵循了" in chinese and "违反 1 次" in chinese and "结果：提前结束" in chinese
    assert "standard(s)" not in chinese and "violation(s)" not in chinese


def test_rubric_titles_follow_the_page_language(rep):
    card = _played(rep, "zh")
    book = rep.app.state.container.roleplay.book  # type: ignore[attr-defined]
    english = rep.get(card, headers={"Accept-Language": "en"}).text
    chinese_title, english_title = escape(book.title("s4.caution.1", "zh")), escape(book.title("s4.caution.1", "en"))
    assert chinese_title != english_title
    assert f"<code>s4.caution.1</code> {english_title}</a>" in english
    rep.cookies.set("coach_lang", "zh")
    assert f"<code>s4.caution.1</code> {chinese_title}</a>" in rep.get(card).text


def test_cards_scored_before_the_breakdown_had_kinds_still_read_in_both_languages():
    legacy = [{"points": 30, "reason": "base"},
              {"points": 10, "reason": "2 standard(s) followed: s4.caution.2, s4.standard.2"},
              {"points": -10, "reason": "1 violation(s)"},
              {"points": -5, "reason": "1 trained standard(s) never used: s3.caution.3"},
              {"points": 0, "reason": "outcome: ended early"},
              {"points": 5, "reason": "50% of objections resolved"}]
    terms = [breakdown_terms(row, i) for i, row in enumerate(legacy)]
    assert [t["kind"] for t in terms] == list(BREAKDOWN_KINDS)
    assert terms[1]["ids"] == ["s4.caution.2", "s4.standard.2"] and terms[4]["outcome"] is None
    zh, en = Translator("zh"), Translator("en")
    assert [breakdown_line(zh, row, i) for i, row in enumerate(legacy)] == [
        "基础分", "遵循了 2 条标准：s4.caution.2、s4.standard.2", "违反 1 次", "1 条训练的标准没有用到：s3.caution.3",
        "结果：提前结束", "化解了 50% 的异议"]
    assert breakdown_line(en, legacy[4], 4) == "Outcome: ended early"
    assert breakdown_line(en, {"points": 0, "reason": "outcome: walked_away"}, 4) == \
        "Outcome: the customer walked away"

"""End to end in a real browser: a rep asks and rates, practises in zh and en; a trainer reviews and assigns."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import TRAINER_TOKEN, axe_violations

QUESTIONS = {
    "en": "The customer says we are 20% more expensive than the competitor. Should I give a discount?",
    "zh": "客户说我们比竞品贵20%，我要不要直接打折？",
}
REPLIES = {
    "en": ["I understand how you feel, price matters. May I ask what the 20% comparison is based on?",
           "Compared with X, our plan saves your team two hours a day, about $12,000 a year.",
           "If you can sign a two-year contract this week, I can include free onboarding."],
    "zh": ["我理解您的感受，价格确实很重要。请问您说贵20%，是和哪家的什么方案比的？",
           "和X相比，我们的方案每天帮您的团队节省两个小时，一年大约省下8万元。",
           "如果您本周能签两年合同，我可以免费提供上门培训。"],
}
LOCALES = {"en": "en-US", "zh": "zh-CN"}


def sign_in(page: Any, name: str) -> None:
    """Say who the rep is, with the keyboard only."""
    page.goto("/hello")
    focus_by_tab(page, "name")
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/chat$"))


def focus_by_tab(page: Any, element_id: str, limit: int = 60) -> None:
    """Press Tab until the element with `element_id` has focus (fails if it is not reachable)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} is not reachable with the Tab key")


def assert_accessible(page: Any) -> None:
    violations = axe_violations(page)
    assert not violations, f"{page.url}: {violations}"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_rep_asks_a_question_reads_a_citation_and_rates_it(open_browser, lang):
    b = open_browser(LOCALES[lang])
    page = b.page
    sign_in(page, f"chat-{lang}")
    assert page.locator("html").get_attribute("lang") == ("zh-CN" if lang == "zh" else "en")
    focus_by_tab(page, "message")
    page.keyboard.type(QUESTIONS[lang])
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    # The answer streams into an aria-live region, then is replaced by the finished answer with its sources.
    answer = page.locator("article.answer .citations details").first
    answer.wait_for()
    assert page.locator("article.answer [sse-connect]").count() == 0
    assert re.search(r"/chat/conv_\w+$", page.url)
    summary = answer.locator("summary")
    assert "s4.caution.1" in page.locator("article.answer .citations").inner_text()
    summary.focus()
    page.keyboard.press("Enter")
    assert answer.get_attribute("open") is not None and len(answer.inner_text()) > 60
    # A follow-up goes into the same conversation.
    page.fill("#message", "What if they still push back?" if lang == "en" else "如果客户还是坚持要折扣呢？")
    page.click("#ask button[type=submit]")
    page.locator("article.answer .rate form").nth(1).wait_for()
    assert page.locator("article.answer").count() == 2
    page.fill("article.answer >> nth=0 >> input[name=comment]", "clear" if lang == "en" else "很清楚")
    page.locator("article.answer").first.locator("button[value=up]").click()
    page.locator(".rated").first.wait_for()
    assert_accessible(page)
    # The conversation is listed among the rep's past conversations and survives a reload (no JS needed).
    page.reload()
    assert page.locator(".past a[aria-current=page]").count() == 1
    assert page.locator(".rated").count() == 1
    page.locator("article.answer details").first.locator("summary").click()
    b.shot(f"chat-{lang}")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_rep_completes_the_price_objection_role_play_and_sees_the_scorecard(open_browser, lang):
    b = open_browser(LOCALES[lang])
    page = b.page
    sign_in(page, f"rep-{lang}")
    page.goto("/practice")
    assert_accessible(page)
    page.click("a[href='/practice/price-objection']")
    assert_accessible(page)
    page.check(f"input[name=lang][value={lang}]")
    page.click("form[action='/practice/price-objection'] button[type=submit]")
    page.wait_for_url(re.compile(r"/sessions/\w+$"))
    first_line = page.locator("#transcript li.customer").first.inner_text()
    assert (re.search(r"[\u4e00-\u9fff]", first_line) is not None) == (lang == "zh")
    trust = [page.locator("#m-trust").get_attribute("value")]
    for n, reply in enumerate(REPLIES[lang], start=1):
        page.fill("#message", reply)
        page.click("#say button[type=submit]")
        page.locator("#transcript li.customer").nth(n).wait_for()
        trust.append(page.locator("#m-trust").get_attribute("value"))
        if page.url.endswith("/scorecard"):
            break
    assert page.locator("#transcript .hints li").count() >= 1
    assert len(set(trust)) > 1, "the trust meter never moved"
    b.shot(f"practice-{lang}")
    assert_accessible(page)
    page.click("#end")
    page.wait_for_url(re.compile(r"/scorecard$"))
    score = int(page.locator(".score .big strong").inner_text())
    total = page.locator(".breakdown tfoot td").inner_text()
    assert total.endswith(f"→ {score}")
    assert page.locator("table.data q").count() >= 1
    assert page.locator("a[href^='/standards#s4.']").count() >= 1
    b.shot(f"scorecard-{lang}")
    assert_accessible(page)
    page.goto("/attempts")
    assert page.locator("a[href$='/scorecard']").count() == 3  # first, best, latest
    assert_accessible(page)


def _api_session(base: str, rep: str, messages: list[str]) -> str:
    with httpx.Client(base_url=base, timeout=120) as api:
        sid = api.post("/v1/roleplay/sessions", json={"scenario": "price-objection", "lang": "en", "rep": rep})
        session_id: str = sid.json()["session_id"]
        for message in messages:
            api.post(f"/v1/roleplay/sessions/{session_id}/turns", json={"message": message})
        api.post(f"/v1/roleplay/sessions/{session_id}/end")
    return session_id


def test_trainer_reviews_overrides_and_assigns_and_the_rep_sees_it(open_browser, server):
    _api_session(server, "bo", ["OK, I'll give you 10% off.", "You're wrong, we are not more expensive."])
    _api_session(server, "cy", REPLIES["en"])
    b = open_browser("en-US")
    page = b.page
    page.goto("/trainer")
    page.wait_for_url(re.compile(r"/trainer/sign-in"))
    page.fill("#token", TRAINER_TOKEN)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"^http://[^/]+/trainer$"))
    heat = page.locator("table.heat")
    assert heat.locator("th[scope=row]", has_text="bo").count() == 1
    assert "V 100 " in heat.locator("tr", has_text="bo").inner_text()
    assert_accessible(page)
    b.shot("dashboard-en")
    page.click("a[href^='/lang/zh']")
    assert page.locator("h1").inner_text() == "团队看板"
    b.shot("dashboard-zh")
    page.click("a[href^='/lang/en']")

    page.click("a[href='/trainer/reps/bo']")
    assert_accessible(page)
    page.locator("a[href^='/trainer/sessions/']").first.click()
    page.wait_for_url(re.compile(r"/trainer/sessions/\w+$"))
    # Comment on turn 1.
    page.locator("details.add-comment summary").first.click()
    page.fill("#cm-1", "Trade the discount for a longer contract.")
    page.locator("details.add-comment").first.locator("button").click()
    assert page.locator(".comment", has_text="Trade the discount").count() == 1
    # Override the first rubric row's verdict; the engine's verdict stays visible.
    row = page.locator("#rubric tbody tr").first
    engine = row.locator("td").nth(1).inner_text()
    new = "followed" if engine != "followed" else "violated"
    row.locator("select").select_option(new)
    row.locator("input[name=reason]").fill("Context justified it")
    row.locator("button").click()
    row = page.locator("#rubric tbody tr").first
    assert row.locator("td").nth(1).inner_text() == engine and row.locator("td").nth(2).inner_text().startswith(new)
    page.fill("#ov-score", "35")
    page.click("#score button[type=submit]")
    assert page.locator("#score .big strong").inner_text() == "35"
    assert_accessible(page)
    b.shot("review-en")
    page.click("a[href^='/lang/zh']")
    b.shot("review-zh")
    page.goto("/lang/en?next=/trainer")

    # Assign the scenario to a rep, with a due date and a minimum score.
    page.select_option("#as-scenario", "price-objection")
    page.fill("#as-reps", "dee")
    page.fill("#as-due", (date.today() + timedelta(days=7)).isoformat())
    page.fill("#as-min", "60")
    page.click("#assignments form.card button[type=submit]")
    assert page.locator("#assignments tbody tr", has_text="dee").locator(".status").inner_text() == "not started"
    page.goto("/trainer/gaps")
    assert_accessible(page)
    csv = page.request.get("/trainer/sessions.csv")
    assert csv.status == 200 and ",bo,price-objection," in csv.text()

    rep = open_browser("zh-CN")
    sign_in(rep.page, "dee")
    rep.page.goto("/practice")
    assigned = rep.page.locator("table.data tbody tr", has_text="price-objection")
    assert assigned.locator(".status").inner_text() == "未开始"


def test_api_docs_render_offline(open_browser):
    b = open_browser()
    page = b.page
    page.goto("/docs")
    page.locator(".swagger-ui .info .title").wait_for()
    assert "Sales Coach" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".opblock-tag").count() >= 4
    # Swagger UI's own markup has low-contrast version badges and buttons nested in its summaries; those two
    # rules are the vendored UI's, not ours, and are left out for this page only.
    swagger_own = ("color-contrast", "nested-interactive")
    assert [v for v in axe_violations(page) if not v.startswith(swagger_own)] == []
    page.goto("/redoc")
    page.get_by_role("heading", name=re.compile("Sales Coach")).first.wait_for()
    assert_accessible(page)


def test_every_page_passes_the_axe_scan(open_browser):
    b = open_browser("zh-CN")
    page = b.page
    for path in ("/hello", "/trainer/sign-in"):
        page.goto(path)
        assert_accessible(page)
    sign_in(page, "axe")
    for path in ("/chat", "/standards", "/practice", "/practice/price-objection", "/attempts"):
        page.goto(path)
        assert_accessible(page)
    b.shot("standards-zh")



def test_without_javascript_the_forms_still_work(browser, server):
    context = browser.new_context(java_script_enabled=False, base_url=server, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto("/hello")
        page.fill("#name", "nojs")
        page.click("form.card button[type=submit]")
        page.wait_for_url(re.compile(r"/chat$"))
        page.fill("#message", QUESTIONS["en"])
        page.click("#ask button[type=submit]")
        page.wait_for_url(re.compile(r"/chat/conv_\w+#a-msg_\w+$"))
        assert page.locator("article.answer .citations details").count() >= 1
        page.locator("article.answer button[value=down]").click()
        assert page.locator(".rated").count() == 1
        page.goto("/practice/price-objection")
        page.click("form[action='/practice/price-objection'] button[type=submit]")
        page.fill("#message", REPLIES["en"][0])
        page.click("#say button[type=submit]")
        page.wait_for_url(re.compile(r"/sessions/\w+#latest$"))
        assert page.locator("#transcript li.customer").count() == 2
        assert page.locator("#m-trust").get_attribute("value") != "40"
        page.click("#end")
        page.wait_for_url(re.compile(r"/scorecard$"))
    finally:
        context.close()

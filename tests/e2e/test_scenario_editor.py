"""In a real browser: a trainer copies a scenario, fixes a problem, previews a few turns, saves; a rep practises it."""

from __future__ import annotations

import re
from typing import Any

from tests.e2e.conftest import SHOTS, SHOTS_DIR, TRAINER_TOKEN
from tests.e2e.test_browser import assert_accessible, sign_in

NEW_ID = "e2e-late-quote"
TITLES = {"en": "Late quote: the buyer is cross", "zh": "报价晚了：采购很不满"}


def shot(page: Any, name: str, selector: str | None = None) -> None:
    """Save what a reader sees (the window, or one part of the page) when COACH_SCREENSHOTS names a folder."""
    if SHOTS:
        SHOTS_DIR.mkdir(parents=True, exist_ok=True)
        target = page.locator(selector) if selector else page
        target.screenshot(path=str(SHOTS_DIR / f"{name}.png"))


def test_a_trainer_creates_previews_and_saves_a_scenario_and_a_rep_practises_it(open_browser):
    b = open_browser("en-US")
    page = b.page
    page.goto("/trainer/scenarios")
    page.wait_for_url(re.compile(r"/trainer/sign-in"))
    page.fill("#token", TRAINER_TOKEN)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"^http://[^/]+/trainer/scenarios$"))
    assert_accessible(page)
    page.click("a[href='/trainer/scenarios/new?copy=price-objection']")
    page.wait_for_url(re.compile(r"/trainer/scenarios/new\?copy=price-objection$"))
    assert page.input_value("#f-persona-name-en") == "Wang Lei" and page.input_value("#f-id") == ""

    # A first try with a bad id and no English title: nothing is saved, each problem is listed and marked.
    page.fill("#f-id", "Late Quote")
    page.fill("#f-title-en", "")
    page.fill("#f-title-zh", TITLES["zh"])
    page.click("#save")
    page.locator("#problems").wait_for()
    assert page.locator("#problems li").count() == 2
    assert page.get_attribute("#f-title-en", "aria-invalid") == "true"
    assert page.input_value("#f-title-zh") == TITLES["zh"]  # what was typed is kept
    assert_accessible(page)

    page.fill("#f-id", NEW_ID)
    page.fill("#f-title-en", TITLES["en"])
    page.fill("#f-persona-name-en", "Zhao Min")
    page.fill("#f-persona-name-zh", "赵敏")
    page.fill("#f-opening-en", "Your quote came a week late, and it's 20% above X. Why should I still listen?")
    # Preview two turns against the draft, in English.
    page.check("input[name=preview_lang][value=en]")
    page.fill("#preview-message", "Sorry it was late. What matters most to you in this decision?")
    page.click("#preview-send")
    page.locator("#preview-transcript").wait_for()
    assert "a week late" in page.locator("#preview-transcript li.customer").first.inner_text()
    page.fill("#preview-message", "OK, I'll take 10% off right now.")
    page.click("#preview-send")
    assert page.locator("#preview-transcript li.rep").count() == 2
    assert "s4.caution.1" in page.locator("#preview-transcript").inner_text()  # the discount is judged
    assert_accessible(page)
    shot(page, "scenario-preview-en", "#preview")
    assert NEW_ID not in page.request.get("/v1/roleplay/scenarios").text()  # a preview saves nothing

    page.click("#save")
    page.wait_for_url(re.compile(rf"/trainer/scenarios/{NEW_ID}\?saved=1$"))
    assert page.locator("#saved").is_visible()
    assert page.input_value("#f-title-en") == TITLES["en"]
    assert_accessible(page)
    shot(page, "scenario-editor-en")
    page.click("a[href^='/lang/zh']")
    assert page.locator("h1").inner_text() == f"编辑情景 {NEW_ID}"
    shot(page, "scenario-editor-zh")

    # A rep finds it on the practice page straight away, practises it and gets a scorecard.
    rep = open_browser("zh-CN")
    sign_in(rep.page, "fay")
    rep.page.goto("/practice")
    rep.page.click(f"a[href='/practice/{NEW_ID}']")
    assert TITLES["zh"] in rep.page.locator("h1").inner_text()
    rep.page.check("input[name=lang][value=en]")
    rep.page.click(f"form[action='/practice/{NEW_ID}'] button[type=submit]")
    rep.page.wait_for_url(re.compile(r"/sessions/\w+$"))
    assert "a week late" in rep.page.locator("#transcript li.customer").first.inner_text()
    rep.page.fill("#message", "I understand, the delay was on us. What would make this work for you?")
    rep.page.click("#say button[type=submit]")
    rep.page.locator("#transcript li.customer").nth(1).wait_for()
    rep.page.click("#end")
    rep.page.wait_for_url(re.compile(r"/scorecard$"))
    assert "基础分" in rep.page.locator(".breakdown").inner_text()  # a Chinese page, an English session
    assert_accessible(rep.page)


def test_the_editor_works_without_javascript(browser, server):
    context = browser.new_context(java_script_enabled=False, base_url=server, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto("/trainer/sign-in?next=/trainer/scenarios/new?copy=no-budget")
        page.fill("#token", TRAINER_TOKEN)
        page.click("form button[type=submit]")
        page.wait_for_url(re.compile(r"/trainer/scenarios/new\?copy=no-budget$"))
        assert page.locator("fieldset.objection").count() == 1
        page.fill("#f-id", "nojs-no-budget")
        page.click("#add-objection")
        page.locator("#objection-1").wait_for()
        assert page.locator("fieldset.objection").count() == 2 and page.input_value("#f-id") == "nojs-no-budget"
        page.check("input[name='objections.1.remove']")
        page.fill("#preview-message", "What would a good outcome look like for you this year?")
        page.click("#preview-send")
        page.locator("#preview-transcript").wait_for()
        assert page.locator("#preview-transcript li.rep").count() == 1
        assert page.locator("fieldset.objection").count() == 1  # the removal applied with the preview
        page.click("#save")
        page.wait_for_url(re.compile(r"/trainer/scenarios/nojs-no-budget\?saved=1$"))
    finally:
        context.close()

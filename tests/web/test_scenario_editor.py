"""The scenario editor pages: trainers only, CSRF, per-field errors in the page's language, preview, save, 409."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.roleplay.editor import form_values
from app.roleplay.scenarios import read_yaml
from tests.roleplay.test_editor import form_pairs
from tests.web.conftest import csrf_of, sign_in_rep, sign_in_trainer, web_settings

VERSION = re.compile(r'name="version" value="([0-9a-f]+)"')


@pytest.fixture
def trainer(web: TestClient) -> TestClient:
    web.csrf = sign_in_trainer(web)  # type: ignore[attr-defined]
    return web


def knowledge(client: TestClient) -> Path:
    return Path(client.app.state.container.settings.knowledge_dir)  # type: ignore[attr-defined]


def post(client: TestClient, path: str, pairs: list[tuple[str, str]], **kwargs: Any) -> Any:
    """Post form pairs as a browser does (a name repeated once per ticked box)."""
    return client.post(path, content=urlencode(pairs), headers={"Content-Type": "application/x-www-form-urlencoded"},
                       **kwargs)


def copy_of(client: TestClient, scenario: str, **changes: Any) -> list[tuple[str, str]]:
    """The form a trainer posts after opening a copy of `scenario` and changing some fields."""
    values = form_values(read_yaml(knowledge(client) / "scenarios" / f"{scenario}.yaml"))
    values.update(changes)
    return [("csrf", client.csrf), *form_pairs(values)]  # type: ignore[attr-defined]


NEW = {"id": "late-delivery", "title.en": "Late delivery, angry plant manager", "title.zh": "交付延误，厂长很生气"}


def test_the_editor_is_for_signed_in_trainers_only(rep):
    for path in ("/trainer/scenarios", "/trainer/scenarios/new", "/trainer/scenarios/price-objection"):
        response = rep.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/trainer/sign-in?next=")


def test_a_save_without_the_csrf_token_is_refused(trainer):
    pairs = [p for p in copy_of(trainer, "price-objection", **NEW) if p[0] != "csrf"]
    response = post(trainer, "/trainer/scenarios/new", pairs, follow_redirects=False)
    assert response.status_code == 403
    assert not (knowledge(trainer) / "scenarios" / "late-delivery.yaml").exists()


def test_the_list_links_every_scenario_to_its_form_and_a_copy(trainer):
    page = trainer.get("/trainer/scenarios").text
    for sid in ("price-objection", "no-budget", "delivery-complaint"):
        assert f'href="/trainer/scenarios/{sid}"' in page and f'href="/trainer/scenarios/new?copy={sid}"' in page
    copy = trainer.get("/trainer/scenarios/new?copy=price-objection").text
    assert 'name="id" value=""' in copy and "王磊" in copy and 'name="version"' not in copy
    assert trainer.get("/trainer/scenarios/no-such-thing").status_code == 404


def test_a_trainer_previews_and_saves_a_new_scenario_and_a_rep_practises_it(trainer, tmp_path, usem3_index):
    said = "What's really behind the 20%, the number itself or justifying it to your CFO?"
    preview = post(trainer, "/trainer/scenarios/new", copy_of(
        trainer, "price-objection", **NEW, preview_lang="en", preview_message=said, action="preview"))
    assert preview.status_code == 200
    assert "I&#39;ve read your proposal" in preview.text  # the opening line of the draft
    assert said.replace("'", "&#39;") in preview.text and 'name="said"' in preview.text
    assert "s4.caution.2" in preview.text  # the probe is judged as in a real session
    assert not (knowledge(trainer) / "scenarios" / "late-delivery.yaml").exists()  # a preview saves nothing

    saved = post(trainer, "/trainer/scenarios/new", copy_of(trainer, "price-objection", **NEW, action="save"),
                         follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == "/trainer/scenarios/late-delivery?saved=1"
    assert read_yaml(knowledge(trainer) / "scenarios" / "late-delivery.yaml")["title"] == {
        "zh": NEW["title.zh"], "en": NEW["title.en"]}
    assert 'role="status"' in trainer.get(saved.headers["location"]).text

    # Another process over the same files (a second app, as a second worker would be) offers it to reps at once.
    settings = web_settings(tmp_path, None, knowledge_dir=knowledge(trainer),
                            data_dir=Path(trainer.app.state.container.settings.data_dir))  # type: ignore[attr-defined]
    with TestClient(create_app(settings), headers={"Accept": "text/html"}) as other:
        sign_in_rep(other, "ola")
        assert "Late delivery, angry plant manager" in other.get("/practice", headers={"Accept-Language": "en"}).text
        token = csrf_of(other, "/practice/late-delivery")
        started = other.post("/practice/late-delivery", data={"csrf": token, "lang": "en"}, follow_redirects=False)
        assert started.status_code == 303
        page = other.get(started.headers["location"]).text
        assert "Late delivery, angry plant manager" in page


def test_problems_are_listed_and_shown_at_each_field_in_the_pages_language(trainer):
    # A rule across fields (every "repeat" line needs {last}) is reported with the single fields' problems.
    data = copy_of(trainer, "price-objection", id="Late Delivery", **{"title.zh": "", "lines.repeat.zh": "请再说一遍"},
                   action="save")
    english = post(trainer, "/trainer/scenarios/new", data)
    assert english.status_code == 422
    assert '<a href="#f-id">Id</a>: Use lowercase letters, digits and hyphens only.' in english.text
    assert '<a href="#f-title-zh">Title · 中文</a>: Required.' in english.text
    assert 'id="f-title-zh" name="title.zh" aria-invalid="true" aria-describedby="e-f-title-zh"' in english.text
    assert "Every line needs {last}" in english.text
    trainer.cookies.set("coach_lang", "zh")
    chinese = post(trainer, "/trainer/scenarios/new", data)
    assert chinese.status_code == 422
    assert '<a href="#f-title-zh">标题 · 中文</a>: 必填。' in chinese.text
    assert "只能用小写字母、数字和连字符。" in chinese.text and "每一行都要包含 {last}" in chinese.text
    assert "请再说一遍</textarea>" in chinese.text  # what was typed is kept
    assert not (knowledge(trainer) / "scenarios" / "late-delivery.yaml").exists()


def test_a_new_scenario_with_a_taken_id_is_refused_at_the_id_field(trainer):
    before = (knowledge(trainer) / "scenarios" / "no-budget.yaml").read_bytes()
    response = post(trainer, "/trainer/scenarios/new", copy_of(trainer, "no-budget", id="no-budget"))
    assert response.status_code == 422
    assert '<a href="#f-id">Id</a>: A scenario with the id no-budget exists' in response.text
    assert (knowledge(trainer) / "scenarios" / "no-budget.yaml").read_bytes() == before


def test_saving_over_a_newer_version_is_a_409_and_keeps_both_the_file_and_the_form(trainer):
    opened = VERSION.search(trainer.get("/trainer/scenarios/no-budget").text).group(1)  # type: ignore[union-attr]
    first = post(trainer, "/trainer/scenarios/no-budget", follow_redirects=False, pairs=copy_of(
        trainer, "no-budget", version=opened, **{"title.en": "First editor"}))
    assert first.status_code == 303
    on_disk = (knowledge(trainer) / "scenarios" / "no-budget.yaml").read_bytes()
    late = post(trainer, "/trainer/scenarios/no-budget", copy_of(
        trainer, "no-budget", version=opened, **{"title.en": "Second editor"}))
    assert late.status_code == 409
    assert "was changed by someone else since you opened it" in late.text
    assert 'value="Second editor"' in late.text  # nothing typed is lost
    assert (knowledge(trainer) / "scenarios" / "no-budget.yaml").read_bytes() == on_disk
    # The id of an edited scenario is its file name: a posted id cannot rename or overwrite another file.
    renamed = post(trainer, "/trainer/scenarios/no-budget", follow_redirects=False, pairs=copy_of(
        trainer, "no-budget", id="price-objection",
        version=VERSION.search(trainer.get("/trainer/scenarios/no-budget").text).group(1)))  # type: ignore[union-attr]
    assert renamed.headers["location"] == "/trainer/scenarios/no-budget?saved=1"


def test_adding_an_objection_keeps_everything_typed_so_far(trainer):
    response = post(trainer, "/trainer/scenarios/new", copy_of(
        trainer, "price-objection", **NEW, action="add_objection"))
    assert response.status_code == 200
    assert 'id="objection-2"' in response.text and 'value="Late delivery, angry plant manager"' in response.text
    assert not (knowledge(trainer) / "scenarios" / "late-delivery.yaml").exists()

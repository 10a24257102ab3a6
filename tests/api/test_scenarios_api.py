"""Scenario files over the API: bearer token, ETag / If-Match (409 on a stale version), 422 per field, preview."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import ROOT
from app.main import create_app
from app.roleplay.scenarios import load_scenarios
from tests.roleplay.conftest import roleplay_settings

TOKEN = "trainer-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    knowledge = shutil.copytree(ROOT / "knowledge", tmp_path / "knowledge")
    settings = roleplay_settings(tmp_path / "data", knowledge_dir=knowledge, trainer_routes=True,
                                 trainer_tokens=TOKEN)
    with TestClient(create_app(settings)) as client:
        yield client


def folder(api: TestClient) -> Path:
    return Path(api.app.state.container.settings.knowledge_dir) / "scenarios"  # type: ignore[attr-defined]


def test_the_scenario_routes_need_the_trainer_token(api):
    assert api.get("/v1/trainer/scenarios/price-objection").status_code == 401
    assert api.post("/v1/trainer/scenarios", json={"scenario": {}}).status_code == 401


def test_create_read_replace_with_etags_and_a_409_for_a_stale_version(api):
    got = api.get("/v1/trainer/scenarios/price-objection", headers=AUTH)
    assert got.status_code == 200 and got.headers["ETag"] == f'"{got.json()["version"]}"'
    draft = {**got.json()["scenario"], "id": "price-objection-b"}
    created = api.post("/v1/trainer/scenarios", json={"scenario": draft}, headers=AUTH)
    assert created.status_code == 201 and created.json()["id"] == "price-objection-b"
    assert api.post("/v1/trainer/scenarios", json={"scenario": draft}, headers=AUTH).status_code == 409
    assert "price-objection-b" in [s["id"] for s in api.get("/v1/roleplay/scenarios").json()["scenarios"]]

    etag = created.headers["ETag"]
    first = api.put("/v1/trainer/scenarios/price-objection-b", headers={**AUTH, "If-Match": etag},
                    json={"scenario": {**draft, "max_turns": 12}})
    assert first.status_code == 200 and first.headers["ETag"] != etag
    stale = api.put("/v1/trainer/scenarios/price-objection-b", headers={**AUTH, "If-Match": etag},
                    json={"scenario": {**draft, "max_turns": 20}})
    assert stale.status_code == 409 and "changed by someone else" in stale.json()["detail"]
    assert load_scenarios(folder(api))["price-objection-b"].max_turns == 12
    missing = api.put("/v1/trainer/scenarios/price-objection-b", headers=AUTH, json={"scenario": draft})
    assert missing.status_code == 400 and "If-Match" in missing.json()["detail"]
    renamed = api.put("/v1/trainer/scenarios/price-objection-b", headers={**AUTH, "If-Match": first.headers["ETag"]},
                      json={"scenario": {**draft, "id": "no-budget"}})
    assert renamed.status_code == 400 and "POST it" in renamed.json()["detail"]
    assert api.get("/v1/trainer/scenarios/nope", headers=AUTH).status_code == 404


def test_a_bad_draft_is_a_422_naming_each_field_and_nothing_is_written(api):
    draft = api.get("/v1/trainer/scenarios/no-budget", headers=AUTH).json()["scenario"]
    before = sorted(p.name for p in folder(api).iterdir())
    bad = {**draft, "id": "new-one", "stage": 9, "trains": ["s4.caution.99"], "lines": ["not", "a", "mapping"]}
    response = api.post("/v1/trainer/scenarios", json={"scenario": bad}, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "lines", "code": "dict_type", "message": "must be a mapping"}]
    del bad["lines"]
    response = api.post("/v1/trainer/scenarios", json={"scenario": bad}, headers=AUTH)
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("stage", "less_than_equal")]
    assert sorted(p.name for p in folder(api).iterdir()) == before


def test_preview_plays_messages_against_a_draft_without_saving_it(api):
    draft = api.get("/v1/trainer/scenarios/price-objection", headers=AUTH).json()["scenario"]
    draft = {**draft, "id": "draft-only", "opening": {"zh": ["你们晚了一周。"], "en": ["You're a week late."]}}
    run = api.post("/v1/trainer/scenarios/preview", headers=AUTH, json={
        "scenario": draft, "lang": "en", "messages": ["OK, 10% off then.", "What matters most to you?"]})
    assert run.status_code == 200
    body = run.json()
    assert body["opening"] == "You're a week late." and len(body["turns"]) == 2
    assert "s4.caution.1" in [f["id"] for f in body["turns"][0]["feedback"]]
    assert not (folder(api) / "draft-only.yaml").exists()
    too_many = api.post("/v1/trainer/scenarios/preview", headers=AUTH,
                        json={"scenario": draft, "messages": ["hi"] * 9})
    assert too_many.status_code == 422

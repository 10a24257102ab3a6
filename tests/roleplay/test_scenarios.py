"""Scenario files: the seven shipped ones load; a malformed one is rejected naming the file and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.roleplay.scenarios import ScenarioError, load_scenarios
from tests.roleplay.conftest import SCENARIOS_DIR

REQUIRED = {"price-objection", "competitor-comparison", "think-about-it", "no-budget", "boss-decides",
            "post-signing-anxiety", "delivery-complaint"}


def test_the_seven_scenarios_load_in_both_languages(scenarios):
    assert REQUIRED <= set(scenarios)
    for scenario in scenarios.values():
        for lang in ("zh", "en"):
            assert scenario.opening.get(lang) and scenario.persona.name.get(lang)
            for objection in scenario.objections:
                assert objection.surface.get(lang) and objection.concern.get(lang)
        assert scenario.difficulty in ("easy", "normal", "hard")


def test_flagship_is_the_twenty_percent_price_objection(scenarios):
    price = scenarios["price-objection"]
    assert "20%" in price.title.en and price.objections[0].kind == "smokescreen"
    assert any(o.kind == "smokescreen" for o in scenarios["think-about-it"].objections)


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "scenarios"
    shutil.copytree(SCENARIOS_DIR, folder)
    return folder


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("kind: smokescreen", "kind: maybe", "scenario file price-objection.yaml: field 'objections.0.kind'"),
        ("revealed_by: [probe, acknowledge, open_question]", "revealed_by: [mind_reading]",
         "scenario file price-objection.yaml: field 'objections.0.revealed_by': Value error, unknown technique"),
        ("difficulty: normal", "difficulty: brutal", "scenario file price-objection.yaml: field 'difficulty'"),
        ("stage: 4", "stage: 9", "scenario file price-objection.yaml: field 'stage'"),
        ("id: price-objection", "id: something-else", "field 'id' is 'something-else' but must match the file name"),
        ("max_turns: 10", "max_turns: 10\nsurprise: true", "field 'surprise': Extra inputs are not permitted"),
    ],
)
def test_malformed_scenario_is_rejected_naming_file_and_field(tmp_path, old, new, expected):
    folder = _copy(tmp_path)
    path = folder / "price-objection.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenarios(folder)
    assert expected in info.value.message


def test_missing_persona_field_is_named(tmp_path):
    folder = _copy(tmp_path)
    path = folder / "no-budget.yaml"
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith("  temperament:")]
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"no-budget\.yaml: field 'persona\.temperament': Field required"):
        load_scenarios(folder)


def test_invalid_yaml_is_rejected_with_the_file_name(tmp_path):
    folder = _copy(tmp_path)
    (folder / "broken.yaml").write_text("id: broken\ntitle: [unclosed\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"scenario file broken\.yaml is not valid YAML"):
        load_scenarios(folder)


def test_service_refuses_to_start_with_a_malformed_scenario(tmp_path):
    from app.container import build_container
    from tests.roleplay.conftest import roleplay_settings

    knowledge = tmp_path / "knowledge"
    shutil.copytree(SCENARIOS_DIR.parent, knowledge)
    path = knowledge / "scenarios" / "boss-decides.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("kind: genuine", "kind: 42"), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"boss-decides\.yaml: field 'objections\.0\.kind'"):
        build_container(roleplay_settings(tmp_path / "data", knowledge_dir=knowledge))

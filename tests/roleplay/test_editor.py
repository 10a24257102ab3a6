"""The scenario editor's model: form <-> file round trips, the loader's checks per field, safe saves, reloading."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from app.errors import ConflictError
from app.roleplay.catalog import ScenarioCatalog
from app.roleplay.editor import ScenarioFiles, draft_from_form, form_values, to_yaml, validate, version_of
from app.roleplay.scenarios import load_scenario, load_scenarios, read_common, read_yaml
from tests.roleplay.test_scenarios import SCENARIOS_DIR

SHIPPED = sorted(p for p in SCENARIOS_DIR.glob("*.yaml") if not p.name.startswith("_"))


def form_pairs(values: dict[str, Any]) -> list[tuple[str, str]]:
    """Return form values as a browser posts them (a ticked box or list once per value)."""
    pairs: list[tuple[str, str]] = []
    for name, value in values.items():
        if name == "objections":
            continue
        pairs += [(name, v) for v in value] if isinstance(value, list) else [(name, str(value))]
    return pairs


def draft_of(path: Path, **changes: str) -> dict[str, Any]:
    values = form_values(read_yaml(path))
    values.update(changes)
    return draft_from_form(form_pairs(values))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SCENARIOS_DIR, tmp_path / "scenarios"))


@pytest.fixture
def files(folder: Path, tmp_path: Path) -> ScenarioFiles:
    return ScenarioFiles(folder, tmp_path / "data" / "locks" / "editor.lock")


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_survives_the_form_and_reads_back_identically(path, tmp_path):
    common = read_common(SCENARIOS_DIR)
    draft = draft_of(path)
    scenario, errors = validate(draft, common)
    assert errors == []
    written = tmp_path / path.name
    written.write_text(to_yaml(draft), encoding="utf-8")
    assert load_scenario(written, common) == load_scenario(path, common) == scenario


def test_a_new_scenario_is_saved_and_the_loader_reads_what_was_validated(files, folder):
    draft = draft_of(folder / "price-objection.yaml", **{"id": "price-objection-hard", "title.en": "Price, hard"})
    draft["difficulty"] = "hard"
    scenario, errors = validate(draft, files.common())
    assert errors == [] and scenario is not None
    version = files.save(draft, scenario, None)
    path = folder / "price-objection-hard.yaml"
    assert version == version_of(path.read_bytes())
    assert load_scenarios(folder)["price-objection-hard"] == scenario
    assert scenario.title.en == "Price, hard" and scenario.difficulty == "hard"
    assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []


def test_a_new_scenario_cannot_take_an_existing_id(files, folder):
    draft = draft_of(folder / "no-budget.yaml")
    scenario, _ = validate(draft, files.common())
    before = (folder / "no-budget.yaml").read_bytes()
    with pytest.raises(ConflictError, match="already exists"):
        files.save(draft, scenario, None)  # type: ignore[arg-type]
    assert (folder / "no-budget.yaml").read_bytes() == before


def test_a_save_over_a_version_someone_else_changed_is_refused_and_keeps_their_file(files, folder):
    raw, opened = files.read("no-budget")
    mine = draft_of(folder / "no-budget.yaml", **{"title.en": "Mine"})
    theirs = draft_of(folder / "no-budget.yaml", **{"title.en": "Theirs"})
    files.save(theirs, validate(theirs, files.common())[0], opened)  # type: ignore[arg-type]
    saved_by_them = (folder / "no-budget.yaml").read_bytes()
    with pytest.raises(ConflictError, match="changed by someone else"):
        files.save(mine, validate(mine, files.common())[0], opened)  # type: ignore[arg-type]
    assert (folder / "no-budget.yaml").read_bytes() == saved_by_them
    assert load_scenarios(folder)["no-budget"].title.en == "Theirs"


def test_two_saves_of_the_same_version_at_once_let_exactly_one_through(files, folder):
    _, opened = files.read("think-about-it")
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def save(title: str) -> None:
        draft = draft_of(folder / "think-about-it.yaml", **{"title.en": title})
        scenario = validate(draft, files.common())[0]
        start.wait()
        try:
            files.save(draft, scenario, opened)  # type: ignore[arg-type]
            outcomes.append(title)
        except ConflictError:
            outcomes.append("409")

    threads = [threading.Thread(target=save, args=(f"Edit {n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o in outcomes if o != "409"]
    assert len(winners) == 1 and outcomes.count("409") == 3
    assert load_scenarios(folder)["think-about-it"].title.en == winners[0]


def test_a_save_that_fails_midway_leaves_the_old_file_whole(files, folder, monkeypatch):
    path = folder / "price-objection.yaml"
    before = path.read_bytes()
    _, opened = files.read("price-objection")
    draft = draft_of(path, **{"title.en": "Half written"})
    scenario = validate(draft, files.common())[0]

    def disk_full(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError):
        files.save(draft, scenario, opened)  # type: ignore[arg-type]
    assert path.read_bytes() == before
    assert [p.name for p in folder.iterdir() if not p.name.endswith(".yaml")] == []


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"id": "Price Objection"}, "id", "string_pattern_mismatch"),
        ({"id": "x" * 65}, "id", "too_long"),
        ({"title.zh": ""}, "title.zh", "string_too_short"),
        ({"stage": "nine"}, "stage", "int_parsing"),
        ({"stage": "9"}, "stage", "less_than_equal"),
        ({"max_turns": "2"}, "max_turns", "greater_than_equal"),
        ({"opening.en": "  \n "}, "opening.en", "too_short"),
        ({"objections.1.id": "price"}, "objections.1.id", "duplicate_id"),
        ({"objections.0.kind": "maybe"}, "objections.0.kind", "literal_error"),
        ({"objections.0.lines.reveal.en": ""}, "objections.0.lines.reveal.en", "too_short"),
        ({"effects.probe.trust": "lots"}, "effects.probe.trust", "int_parsing"),
        ({"effects.discount.patience": "-90"}, "effects.discount.patience", "greater_than_equal"),
        ({"effects.value.why.zh": ""}, "effects.value.why.zh", "string_too_short"),
        ({"facts.budget.depth": "3"}, "facts.budget.depth", "less_than_equal"),
        ({"lines.repeat.en": "Say that again?"}, "lines.repeat.en", "placeholder"),
        ({"trains": ["s4.caution.1", "price"]}, "trains", "not_standard_ids"),
    ],
)
def test_each_problem_is_tied_to_its_form_field(changes, field, code):
    draft = draft_of(SCENARIOS_DIR / "price-objection.yaml", **changes)
    scenario, errors = validate(draft, read_common(SCENARIOS_DIR))
    assert scenario is None
    assert (field, code) in [(e.field, e.code) for e in errors], errors


def test_rules_across_fields_are_reported_beside_the_single_fields_problems():
    draft = draft_of(SCENARIOS_DIR / "price-objection.yaml", **{"title.en": "", "objections.1.id": "price"})
    _, errors = validate(draft, read_common(SCENARIOS_DIR))
    assert [(e.field, e.code) for e in errors] == [("title.en", "string_too_short"),
                                                   ("objections.1.id", "duplicate_id")]


def test_standards_missing_from_the_knowledge_base_are_named():
    draft = draft_of(SCENARIOS_DIR / "price-objection.yaml", trains=["s4.caution.1", "s4.caution.99"])
    _, errors = validate(draft, read_common(SCENARIOS_DIR), known_standards={"s4.caution.1"})
    assert [(e.field, e.code, e.params) for e in errors] == [("trains", "unknown_standard",
                                                             {"names": "s4.caution.99"})]


def test_adding_and_removing_objections_in_the_form():
    values = form_values(read_yaml(SCENARIOS_DIR / "price-objection.yaml"))
    added = draft_from_form(form_pairs(values), add_objection=True)
    assert [o["id"] for o in added["objections"]] == ["price", "switch-risk", ""]
    removed = draft_from_form([*form_pairs(values), ("objections.0.remove", "1")])
    assert [o["id"] for o in removed["objections"]] == ["switch-risk"]


def test_every_process_sees_a_saved_scenario_at_its_next_look(files, folder):
    one, other = ScenarioCatalog(folder), ScenarioCatalog(folder)
    assert "late-delivery" not in other.current()
    draft = draft_of(folder / "delivery-complaint.yaml", id="late-delivery")
    files.save(draft, validate(draft, files.common())[0], None)  # type: ignore[arg-type]
    assert "late-delivery" in one.current() and "late-delivery" in other.current()
    _, version = files.read("late-delivery")
    edited = draft_of(folder / "late-delivery.yaml", **{"title.en": "Late again"})
    files.save(edited, validate(edited, files.common())[0], version)  # type: ignore[arg-type]
    assert other.current()["late-delivery"].title.en == "Late again"


def test_a_file_broken_by_hand_keeps_the_scenarios_loaded_before(folder, caplog):
    catalog = ScenarioCatalog(folder)
    (folder / "no-budget.yaml").write_text("id: no-budget\nstage: [\n", encoding="utf-8")
    assert "no-budget" in catalog.current()
    assert "not reloaded" in caplog.text


def test_a_session_whose_scenario_lost_an_objection_meanwhile_is_told_to_restart(tmp_path):
    from app.container import build_container
    from tests.roleplay.conftest import roleplay_settings

    knowledge = shutil.copytree(SCENARIOS_DIR.parent, tmp_path / "knowledge")
    container = build_container(roleplay_settings(tmp_path / "data", knowledge_dir=knowledge))
    try:
        service = container.roleplay
        session = service.start("price-objection", "en", rep="amy")["session_id"]
        files = ScenarioFiles.of(container.settings)
        _, version = files.read("price-objection")
        draft = draft_of(knowledge / "scenarios" / "price-objection.yaml", **{"objections.1.remove": "1"})
        files.save(draft, validate(draft, files.common())[0], version)  # type: ignore[arg-type]
        with pytest.raises(ConflictError, match="objections changed; end this session and start a new one"):
            service.turn(session, "What is the 20% compared against?")
        assert service.end(session)["score"] == 0  # it still ends, with a scorecard
        fresh = service.start("price-objection", "en", rep="amy")["session_id"]
        assert service.turn(fresh, "What is the 20% compared against?")["customer"]
    finally:
        container.close()


SAVE_IN_ANOTHER_PROCESS = """
import sys
from pathlib import Path
from app.roleplay.editor import ScenarioFiles, validate
from app.roleplay.scenarios import read_yaml
folder, lock = Path(sys.argv[1]), Path(sys.argv[2])
files = ScenarioFiles(folder, lock)
raw = {**read_yaml(folder / "no-budget.yaml"), "id": "from-elsewhere"}
scenario, errors = validate(raw, files.common())
assert not errors, errors
print(files.save(raw, scenario, None))
"""


def test_a_scenario_saved_by_another_process_is_served_by_this_one(folder, tmp_path):
    catalog = ScenarioCatalog(folder)
    assert "from-elsewhere" not in catalog.current()
    done = subprocess.run([sys.executable, "-c", SAVE_IN_ANOTHER_PROCESS, str(folder), str(tmp_path / "lock")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert catalog.current()["from-elsewhere"].persona == catalog.current()["no-budget"].persona
    assert done.stdout.strip() == version_of((folder / "from-elsewhere.yaml").read_bytes())

"""One source of truth: every view of a scorecard (breakdown, rubric, summary, strengths) agrees with its events."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.roleplay.evaluation import load_scripts, play_script
from app.roleplay.scoring import consistency_problems

SCRIPTS = load_scripts(Path(__file__).resolve().parents[2] / "evals" / "roleplay")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: f"{s['scenario']}-{s['rep']}-{s['lang']}")
def test_every_scripted_session_gets_a_consistent_scorecard(service, script):
    card = play_script(service, script)["scorecard"]
    assert consistency_problems(card) == []


def test_a_repeated_violation_is_counted_the_same_everywhere(service):
    session = service.start("price-objection", "en")["session_id"]
    service.turn(session, "Fine, I'll give you 10% off.")
    service.turn(session, "OK, make it 15% off then.")
    card = service.end(session)
    row = next(r for r in card["rubric"] if r["id"] == "s4.caution.1" and r["verdict"] == "violated")
    assert row["count"] == 2 and row["turns"] == [1, 2]
    assert "2 violation(s)" in [b["reason"] for b in card["breakdown"]]
    assert "2 time(s)" in card["summary"] and consistency_problems(card) == []


def test_the_real_concern_found_is_credited_to_the_standard_that_asks_for_it(service):
    session = service.start("price-objection", "en", difficulty="easy")["session_id"]
    out = service.turn(session, "I hear you. What's really behind the comparison with X, is it the price itself?")
    assert any(f["id"] == "s4.caution.2" and f["verdict"] == "followed" for f in out["feedback"])
    card = service.end(session)
    assert "uncovered the real concern" in card["summary"]
    assert "s4.caution.2" not in [r["id"] for r in card["rubric"] if r["verdict"] == "missed"]


def test_consistency_check_catches_a_card_whose_views_disagree(service):
    session = service.start("price-objection", "en")["session_id"]
    service.turn(session, "Fine, I'll give you 10% off.")
    card = service.end(session)
    broken = {**card, "breakdown": [dict(b) for b in card["breakdown"]]}
    broken["breakdown"][2]["reason"] = "3 violation(s)"
    assert consistency_problems(broken)

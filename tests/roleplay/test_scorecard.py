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


def test_a_concern_told_after_a_remedy_is_credited_for_answering_not_for_asking(service):
    session = service.start("delivery-complaint", "en", difficulty="normal")["session_id"]
    out = service.turn(session, "That delay is on us. Our engineer is on site tomorrow at 8am, line two runs by "
                                "Friday, and I will call you every evening at 6 with the status.")
    reveal = next(f for f in out["feedback"] if f["id"] == "s4.caution.2")
    assert reveal["note"].startswith("You treated the objection as real and answered it")


def test_consistency_check_catches_a_card_whose_views_disagree(service):
    session = service.start("price-objection", "en")["session_id"]
    service.turn(session, "Fine, I'll give you 10% off.")
    card = service.end(session)
    broken = {**card, "breakdown": [dict(b) for b in card["breakdown"]]}
    broken["breakdown"][2]["reason"] = "3 violation(s)"
    assert consistency_problems(broken)


def test_never_breaking_a_standard_is_credited_only_over_a_clean_conversation(service):
    short = service.start("delivery-complaint", "en")["session_id"]
    service.turn(short, "hi david, sorry to hear about this")
    service.turn(short, "tbh your guys never sent us the site drawings on time, that's half the delay")
    card = service.end(short)
    # Two messages, one of them blaming the customer: "you never argued or pressured" is not credit a trainer gives.
    assert not any(r["verdict"] == "followed" and r["turn"] == 0 for r in card["rubric"])
    assert "s4.standard.3" not in [r["id"] for r in card["rubric"] if r["verdict"] == "missed"]
    clean = service.start("price-objection", "en")["session_id"]
    for message in ["I hear you, 20% is a real gap.", "What would your boss need to see to sign off on it?",
                    "How many parts a year do you run?",
                    "Plants your size cut downtime by 30%; it pays back in a year."]:
        service.turn(clean, message)
    kept = service.end(clean)
    assert any(r["verdict"] == "followed" and r["turn"] == 0 for r in kept["rubric"])
    assert consistency_problems(card) == [] and consistency_problems(kept) == []


def test_the_same_words_never_earn_credit_and_a_penalty_in_one_turn(service):
    session = service.start("price-objection", "zh")["session_id"]
    out = service.turn(session, "说实话X那家质量不行的，上次有个客户用了他们的设备三个月就坏了")
    bad = {f["evidence"] for f in out["feedback"] if f["verdict"] == "violated"}
    assert bad and not any(f["verdict"] == "followed" and f["evidence"] in bad for f in out["feedback"])


def test_a_quote_with_a_dash_in_it_does_not_trip_the_consistency_check(service):
    session = service.start("no-budget", "en")["session_id"]
    service.turn(session, "ok understood, year end. but just so i get it right — the project itself isnt dead, "
                          "its timing?")
    card = service.end(session)
    assert any("right — the project" in s for s in card["strengths"])  # the quoted words hold a dash
    assert consistency_problems(card) == []


def test_a_close_on_the_answer_that_settles_the_concern_is_not_judged_premature(scenarios):
    from app.roleplay.scoring import StandardBook, turn_feedback
    from app.roleplay.techniques import Detection

    message = "If we push the first payment to next quarter, can we sign this week?"
    close = [Detection("close", message, "model", 0.9)]
    early = turn_feedback(close, False, ["premature_close"], message, "en", StandardBook(), scenarios["no-budget"])
    settled = turn_feedback(close, False, ["resolved:budget", "closed_on_answer"], message, "en", StandardBook(),
                            scenarios["no-budget"])
    assert [i["verdict"] for i in early] == ["violated"] and [i["verdict"] for i in settled] == ["followed"]


def test_a_concession_traded_in_a_close_asked_too_early_still_counts(scenarios):
    from app.roleplay.scoring import StandardBook, scorecard, turn_feedback
    from app.roleplay.techniques import Detection

    message = "先签合同，首付款放到下个季度，这季度一分钱不用出，您看这样财务能接受吗？"
    found = [Detection("concession", message, "model", 0.82), Detection("close", message, "model", 0.77)]
    feedback = turn_feedback(found, False, ["premature_close"], message, "zh", StandardBook(), scenarios["no-budget"])
    assert {(i["technique"], i["verdict"]) for i in feedback} == {("concession", "followed"), ("close", "violated")}
    state = {"objections": [{"id": "budget", "status": "raised", "points": 0}], "outcome": None, "trust": 40}
    card = scorecard(scenarios["no-budget"], state, [{"n": 1, "feedback": feedback}], "zh", StandardBook())
    assert consistency_problems(card) == []
    # Bad words still earn nothing: a disparaging anecdote is not a customer story.
    story = "X家去年给一个客户装的设备三天两头坏，我们的客户就没这问题。"
    mixed = turn_feedback([Detection("story", story, "model", 0.7), Detection("disparage", story, "model", 0.8)],
                          False, [], story, "zh", StandardBook(), scenarios["no-budget"])
    assert [(i["technique"], i["verdict"]) for i in mixed] == [("disparage", "violated")]


def test_facts_answered_is_judged_on_questions_the_fact_sheet_can_answer(service):
    from app.roleplay.evaluation import play_session, session_metrics

    session = {"id": "t", "scenario": "price-objection", "lang": "en", "turns": [
        {"text": "how many parts do you make a year?", "moves": ["open_question"], "asks_fact": ["volume"],
         "kind": "normal"},
        {"text": "do you have parking for our van out front?", "moves": [], "asks_fact": ["other"], "kind": "normal"},
    ]}
    metrics = session_metrics([play_session(service, session)])
    assert metrics["fact_questions_played"] == 1 and metrics["off_sheet_fact_questions_played"] == 1
    assert metrics["facts_answered_rate"] == 1.0

"""The dialogue state machine, scenario by scenario: reveal, resolve, signal, close, walk away, time up."""

from __future__ import annotations

import pytest

from app.roleplay import engine

ALL = ["price-objection", "competitor-comparison", "think-about-it", "no-budget", "boss-decides",
       "post-signing-anxiety", "delivery-complaint"]


def _play(scenario, techniques_per_turn, difficulty=None):
    state = engine.initial_state(scenario, difficulty or scenario.difficulty)
    results = []
    for techniques in techniques_per_turn:
        state, result = engine.step(scenario, state, set(techniques))
        results.append(result)
        if state["outcome"]:
            break
    return state, results


def _good_turns(scenario, difficulty):
    """Reveal each objection, then resolve it with its own resolving techniques, then close."""
    need = engine.LEVELS[difficulty].need
    turns = []
    for objection in scenario.objections:
        turns.append([objection.revealed_by[0], "acknowledge"])
        moves = [t for t in objection.resolved_by if t != "close"]
        for i in range(0, need, 2):
            turns.append(moves[i % len(moves): i % len(moves) + 2] or moves[:1])
    return [*turns, ["value", "story"], ["close"]]


@pytest.mark.parametrize("scenario_id", ALL)
def test_a_rep_who_follows_the_standards_progresses_the_deal(scenarios, scenario_id):
    scenario = scenarios[scenario_id]
    state, results = _play(scenario, _good_turns(scenario, scenario.difficulty))
    assert state["outcome"] == "progressed", state
    assert all(o["status"] == "resolved" for o in state["objections"])
    events = [e for r in results for e in r.events]
    assert f"revealed:{scenario.objections[0].id}" in events and "closed" in events
    assert engine.progress(scenario, state) == 100


@pytest.mark.parametrize("scenario_id", ALL)
def test_a_rep_who_discounts_argues_and_pressures_loses_the_customer(scenarios, scenario_id):
    scenario = scenarios[scenario_id]
    state, results = _play(scenario, [["discount"], ["argue"], ["pressure"], ["argue"], ["pressure"]])
    assert state["outcome"] == "walked_away"
    assert state["trust"] < engine.LEVELS[scenario.difficulty].trust
    # The customer reacts to the discount first; a hard customer may walk away on the spot.
    assert results[0].situations[0] == "discount"
    assert len(results) == 1 or results[1].situations[0] == "argue"


@pytest.mark.parametrize("scenario_id", ALL)
def test_saying_nothing_useful_runs_out_the_clock(scenarios, scenario_id):
    scenario = scenarios[scenario_id]
    state, results = _play(scenario, [[]] * 40, difficulty="easy")
    assert state["outcome"] == "time_up" and state["turn"] == scenario.max_turns
    assert results[-1].situations == ["time_up"]


def test_answering_a_smokescreen_at_face_value_does_not_reach_the_real_concern(scenarios):
    price = scenarios["price-objection"]
    state, results = _play(price, [["value"], ["differentiate"]])
    assert results[0].situations == ["deflect"] and state["objections"][0]["status"] == "raised"
    state, results = _play(price, [["probe"], ["value", "differentiate"]])
    assert results[0].situations == ["obj:price:reveal"]
    assert state["objections"][0]["status"] == "resolved" and state["objections"][1]["status"] == "raised"
    assert results[1].situations == ["obj:price:resolved", "obj:switch-risk:pushback"]


def test_a_genuine_objection_can_be_answered_directly(scenarios):
    state, _ = _play(scenarios["no-budget"], [["value"]], difficulty="normal")
    assert state["objections"][0]["status"] == "revealed" and state["objections"][0]["points"] == 1


def test_difficulty_changes_how_much_it_takes(scenarios):
    scenario = scenarios["competitor-comparison"]
    turns = [["probe"], ["differentiate"]]
    easy, _ = _play(scenario, turns, difficulty="easy")
    hard, _ = _play(scenario, turns, difficulty="hard")
    assert easy["objections"][0]["status"] == "resolved"
    assert hard["objections"][0]["status"] == "revealed"
    assert easy["trust"] > hard["trust"]


def test_closing_before_a_buying_signal_costs_patience_and_closing_after_wins(scenarios):
    scenario = scenarios["think-about-it"]
    state, results = _play(scenario, [["close"]])
    assert "premature_close" in results[0].events and state["outcome"] is None
    assert state["patience"] < engine.LEVELS["normal"].patience - engine.LEVELS["normal"].drain
    state, results = _play(scenario, [["probe"], ["story", "value"], ["acknowledge"], ["close"]])
    assert "missed_signal" in results[2].events and state["outcome"] == "progressed"


def test_an_unconditional_discount_invites_a_demand_for_more(scenarios):
    state, results = _play(scenarios["price-objection"], [["discount"]])
    assert state["discounts"] == 1 and results[0].situations == ["discount"]
    line = engine.customer_line(scenarios["price-objection"], state, results[0], "en")
    assert "10%" in line or "best price" in line or "push" in line


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_customer_never_says_the_same_line_twice_in_a_row(scenarios, lang):
    scenario = scenarios["price-objection"]
    state = engine.initial_state(scenario, "easy")
    previous = engine.opening_line(scenario, state, lang, 0)
    for _ in range(9):
        state, result = engine.step(scenario, state, set())
        line = engine.customer_line(scenario, state, result, lang)
        assert line != previous
        previous = line


def test_lines_are_in_the_session_language(scenarios):
    from app.text import detect_language

    scenario = scenarios["delivery-complaint"]
    for lang in ("zh", "en"):
        state = engine.initial_state(scenario, "normal")
        state, result = engine.step(scenario, state, {"acknowledge", "probe"})
        assert detect_language(engine.customer_line(scenario, state, result, lang)) == lang


def _say(scenario, state, lang, techniques=(), kind="normal", facts=()):
    state, result = engine.step(scenario, state, set(techniques), kind=kind, facts=list(facts))
    return state, result, engine.customer_line(scenario, state, result, lang)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_factual_question_is_answered_from_the_fact_sheet_not_with_an_objection(scenarios, lang):
    scenario = scenarios["price-objection"]
    state = engine.initial_state(scenario, "normal")
    engine.opening_line(scenario, state, lang, 0)
    state, result, line = _say(scenario, state, lang, facts=["volume"])
    assert result.facts == [("volume", "answered")] and result.situations == []
    assert line in scenario.facts["volume"].get(lang)
    # Asked again, the customer answers in other words rather than repeating the sentence.
    state, result, again = _say(scenario, state, lang, facts=["volume"])
    assert result.facts == [("volume", "again")] and again != line


def test_deeper_facts_wait_for_trust(scenarios):
    scenario = scenarios["price-objection"]
    assert scenario.facts["history"].depth == 2
    state = engine.initial_state(scenario, "normal")
    state, result, line = _say(scenario, state, "en", facts=["history"])
    assert result.facts == [("history", "guarded")]
    assert line in scenario.lines["fact_guarded"].en
    state, _, _ = _say(scenario, state, "en", techniques=["probe", "acknowledge"])
    state, _, _ = _say(scenario, state, "en", techniques=["value", "story"])
    state, result, line = _say(scenario, state, "en", facts=["history"])
    assert result.facts == [("history", "answered")] and line in scenario.facts["history"].en


@pytest.mark.parametrize("kind, pool", [("greeting", "greeting"), ("filler", "filler"), ("meta", "meta")])
def test_small_talk_gets_a_human_answer_not_a_complaint(scenarios, kind, pool):
    scenario = scenarios["think-about-it"]
    state = engine.initial_state(scenario, "normal")
    state, result, line = _say(scenario, state, "en", kind=kind)
    assert result.situations == [pool] and line in scenario.lines[pool].en


def test_asked_to_repeat_the_customer_repeats_their_last_point(scenarios):
    scenario = scenarios["price-objection"]
    state = engine.initial_state(scenario, "normal")
    opening = engine.opening_line(scenario, state, "en", 0)
    state, result, line = _say(scenario, state, "en", kind="repeat_request")
    assert result.situations == ["repeat"] and opening in line


def test_the_customer_acknowledges_the_reps_point_before_pushing_back(scenarios):
    scenario = scenarios["price-objection"]
    state = engine.initial_state(scenario, "normal")
    state, result, line = _say(scenario, state, "en", techniques=["value"])
    assert result.ack == "value" and any(line.startswith(a) for a in scenario.acks["value"].en)


def test_after_the_real_concern_is_out_the_customer_does_not_return_to_the_surface_objection(scenarios):
    scenario = scenarios["price-objection"]
    state = engine.initial_state(scenario, "hard")
    state, result, _ = _say(scenario, state, "en", techniques=["probe"])
    assert result.situations == ["obj:price:reveal"]
    state, result, _ = _say(scenario, state, "en", techniques=["open_question"])
    assert result.situations == ["obj:price:softened"]


def test_a_customer_who_has_just_told_the_real_concern_does_not_also_soften(scenarios):
    # A remedy plan answers the genuine complaint: the customer tells what really bothers him, and that is the
    # reaction; "that's more like it. What else?" on top of it read as a second reply.
    scenario = scenarios["delivery-complaint"]
    state = engine.initial_state(scenario, "hard")
    state, result, _ = _say(scenario, state, "en", techniques=["remedy_plan"])
    assert result.situations == ["obj:late:reveal"]


def test_asking_for_the_order_in_the_message_that_settles_the_last_concern_is_not_premature(scenarios):
    scenario = scenarios["no-budget"]
    state = engine.initial_state(scenario, "easy")
    state, result, _ = _say(scenario, state, "en", techniques=["probe"])
    assert result.situations == ["obj:budget:reveal"]
    # "If the first payment moves to next quarter, can we sign this week?"
    state, result, _ = _say(scenario, state, "en", techniques=["concession", "close"])
    assert "premature_close" not in result.events and "closed_on_answer" in result.events
    assert state["outcome"] == "progressed"
    # Asked before the concern is settled, the same close is premature.
    early = engine.initial_state(scenario, "easy")
    early, result, _ = _say(scenario, early, "en", techniques=["close"])
    assert result.events == ["premature_close"]


def test_a_sentence_inside_one_already_said_counts_as_said():
    said = ["That's more like it.", "嗯，这才像句话。", "Okay, fine."]
    assert engine._said_before("Okay, that's more like it.", said)
    assert engine._said_before("这才像句话。", said)
    assert not engine._said_before("Okay.", said)  # too short to be an echo
    assert not engine._said_before("Fine, I'm listening to the plan.", said)


def test_once_the_concern_is_out_spent_softened_lines_never_fall_back_to_the_surface_objection(scenarios):
    scenario = scenarios["delivery-complaint"]
    state = engine.initial_state(scenario, "hard")
    state, result, _ = _say(scenario, state, "en", techniques=["probe"])
    assert result.situations == ["obj:late:reveal"]
    pushback = scenario.objections[0].lines["pushback"].en
    for _ in range(4):
        state, result, line = _say(scenario, state, "en", techniques=["differentiate"])
        assert result.situations == ["obj:late:softened"]
        assert not any(p in line for p in pushback)


def test_no_part_of_one_reply_echoes_another(scenarios):
    # The acknowledgement of a remedy ("That's more like it.") and the softened reaction ("Okay, that's more like
    # it. What else?") were both picked before either counted as said.
    scenario = scenarios["delivery-complaint"]
    state = engine.initial_state(scenario, "hard")
    state, _, _ = _say(scenario, state, "en", techniques=["acknowledge"])
    state, result, line = _say(scenario, state, "en", techniques=["remedy_plan"])
    sentences = engine._sentences(line)
    assert not any(engine._said_before(s, sentences[:i]) for i, s in enumerate(sentences)), line


def test_an_upset_customer_answers_a_greeting_in_character(scenarios):
    scenario = scenarios["delivery-complaint"]
    state = engine.initial_state(scenario, "normal")
    state, result, line = _say(scenario, state, "en", kind="greeting")
    assert result.situations == ["greeting"] and line in scenario.lines["greeting"].en
    assert line not in scenarios["price-objection"].lines["greeting"].en


@pytest.mark.parametrize("scenario_id", ALL)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_customer_sentence_is_said_twice_in_a_session(scenarios, scenario_id, lang):
    scenario = scenarios[scenario_id]
    state = engine.initial_state(scenario, "easy")
    said = [engine.opening_line(scenario, state, lang, 0)]
    turns = [((), "filler", ()), (("open_question",), "normal", ("volume",)), ((), "normal", ()),
             (("acknowledge",), "normal", ()), ((), "greeting", ()), ((), "normal", ("budget",)),
             (("value",), "normal", ()), ((), "normal", ()), ((), "meta", ()), ((), "normal", ())]
    for techniques, kind, facts in turns:
        state, result, line = _say(scenario, state, lang, techniques, kind, facts)
        said.append(line)
        if state["outcome"]:
            break
    assert len(said) == len(set(said)), said
    assert len(state["said"]) == len(set(state["said"]))


def test_after_signing_next_steps_move_things_on_and_an_early_close_is_not_a_violation(scenarios):
    scenario = scenarios["post-signing-anxiety"]
    state = engine.initial_state(scenario, "normal")
    state, result, _ = _say(scenario, state, "en", techniques=["close"])
    assert "premature_close" not in result.events
    for techniques in (["acknowledge", "probe"], ["reassure", "story"], ["next_steps", "reassure"],
                       ["next_steps"], ["next_steps"]):
        state, result, _ = _say(scenario, state, "en", techniques=techniques)
        if state["outcome"]:
            break
    assert state["outcome"] == "progressed"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_question_asked_with_a_bad_move_gets_the_reaction_then_the_answer(scenarios, lang):
    scenario = scenarios["price-objection"]
    state = engine.initial_state(scenario, "normal")
    engine.opening_line(scenario, state, lang, 0)
    state, result, line = _say(scenario, state, lang, techniques=["blame_customer"], facts=["volume"])
    assert result.situations == ["blame_customer"] and result.facts == [("volume", "answered")]
    reaction = next(r for r in scenario.lines["blame_customer"].get(lang) if line.startswith(r))
    assert line[len(reaction):].strip() in scenario.facts["volume"].get(lang)


def test_another_reading_of_an_ambiguous_question_is_answered_only_when_the_customer_is_free_to(scenarios):
    scenario = scenarios["price-objection"]
    assert scenario.facts["volume"].depth == 0 and scenario.facts["history"].depth == 2
    state = engine.initial_state(scenario, "normal")
    engine.opening_line(scenario, state, "en", 0)
    state, result = engine.step(scenario, state, {"open_question"}, facts=["company"], also=["volume", "history"])
    # The company and the volume are given; the history is not volunteered, and nothing says it is held back.
    assert result.facts == [("company", "answered"), ("volume", "answered")]
    line = engine.customer_line(scenario, state, result, "en")
    assert not any(g in line for g in scenario.lines["fact_guarded"].en)
    state, result = engine.step(scenario, state, {"open_question"}, facts=["budget"], also=["history"])
    assert [slot for slot, _ in result.facts] == ["budget"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_proposed_meeting_is_taken_in_place_of_asking_for_more(scenarios, lang):
    scenario = scenarios["price-objection"]
    state = engine.initial_state(scenario, "normal")
    engine.opening_line(scenario, state, lang, 0)
    state, _, _ = _say(scenario, state, lang, techniques=["probe", "acknowledge"])
    state, result = engine.step(scenario, state, {"decision_makers"}, meeting=True)
    line = engine.customer_line(scenario, state, result, lang)
    assert result.situations == ["meeting"]
    assert any(part in line for part in scenario.lines["meeting"].get(lang))
    # A message that hurts is answered as the hurt it is, whatever it proposes.
    state, result = engine.step(scenario, state, {"pressure"}, meeting=True)
    assert "meeting" not in result.situations


def test_a_good_move_once_every_concern_is_settled_is_agreed_with(scenarios):
    scenario = scenarios["post-signing-anxiety"]
    state = engine.initial_state(scenario, "normal")
    for objection in state["objections"]:
        objection["status"] = "resolved"
    state["trust"] = engine.LEVELS["normal"].walk_trust + 1  # too low for a buying signal, not low enough to leave
    state, result = engine.step(scenario, state, {"reassure"})
    line = engine.customer_line(scenario, state, result, "en")
    assert result.situations == ["settled"]
    assert any(part in line for part in scenario.lines["settled"].en)


@pytest.mark.parametrize(("parts", "expected"), [
    (["Okay, that's a real saving.", "Okay, that's a useful angle."],
     ["Okay, that's a real saving.", "That's a useful angle."]),
    (["行，这话我先记下。", "行，照这个计划来。"], ["行，这话我先记下。", "照这个计划来。"]),
    (["好，这个计划我先听着。", "好的，明白。"], ["好，这个计划我先听着。", "好的，明白。"]),
    (["Good.", "Goodness, that was quick."], ["Good.", "Goodness, that was quick."]),
])
def test_a_reply_does_not_open_two_parts_with_the_same_interjection(parts, expected):
    assert engine._without_echoed_lead(parts) == expected

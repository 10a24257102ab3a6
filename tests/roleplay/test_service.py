"""RoleplayService end to end (real embedder and SQLite): sessions, errors, resume, scorecard, LLM voice."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from app.container import build_container
from app.errors import ConflictError, NotFoundError
from app.roleplay.service import RoleplayService
from app.roleplay.voice import in_character
from tests.roleplay.conftest import roleplay_settings

GOOD_EN = [
    "I understand. Can I ask what's behind the comparison with X, is it the price or how you justify it?",
    "On your volumes the lower scrap rate saves about 400k a year, so the extra 20% pays back in seven months. "
    "Unlike X, our price includes on-site engineers.",
]


def test_start_returns_opening_line_scenario_and_state(service):
    started = service.start("price-objection", "en", rep="amy")
    assert "20%" in started["customer"]
    assert started["scenario"]["id"] == "price-objection"
    assert started["state"]["turn"] == 0 and started["state"]["objections"]["raised"] == ["price"]


def test_list_scenarios_has_titles_in_both_languages(service):
    listed = {s["id"]: s for s in service.list_scenarios()}
    assert len(listed) >= 7
    assert set(listed["no-budget"]["title"]) == {"zh", "en"} and listed["no-budget"]["difficulty"] == "hard"


def test_turn_gives_feedback_tied_to_standards_in_the_session_language(service):
    session = service.start("price-objection", "zh")["session_id"]
    out = service.turn(session, "我理解。那我直接给您打九折吧。")
    by_id = {f["id"]: f for f in out["feedback"]}
    assert by_id["s4.caution.1"]["verdict"] == "violated"
    assert by_id["s4.caution.1"]["evidence"] == "那我直接给您打九折吧。"
    assert "s4.caution.1" in by_id["s4.caution.1"]["note"] and "不轻易降价" in by_id["s4.caution.1"]["note"]
    assert by_id["s4.standard.2"]["verdict"] == "followed"
    assert "降" in out["customer"] and out["done"] is False


def test_unknown_scenario_and_session_say_what_to_do(service):
    with pytest.raises(NotFoundError, match=r"Scenario 'nope' not found; see GET /v1/roleplay/scenarios"):
        service.start("nope", "en")
    with pytest.raises(NotFoundError, match=r"Session 'missing' not found; start one with POST"):
        service.turn("missing", "hello")
    with pytest.raises(NotFoundError):
        service.end("missing")


def test_a_turn_on_an_ended_session_is_a_conflict_and_end_is_idempotent(service):
    session = service.start("price-objection", "en")["session_id"]
    service.turn(session, GOOD_EN[0])
    card = service.end(session)
    with pytest.raises(ConflictError, match=r"has ended; read its scorecard with GET /v1/roleplay/sessions/"):
        service.turn(session, "one more thing")
    assert service.end(session) == card


def test_session_survives_a_restart_mid_session(tmp_path):
    settings = roleplay_settings(tmp_path / "data")
    first = build_container(settings)
    session = first.roleplay.start("price-objection", "en", rep="amy")["session_id"]
    first.roleplay.turn(session, GOOD_EN[0])
    first.close()

    second = build_container(settings)
    try:
        out = second.roleplay.turn(session, GOOD_EN[1])
        assert out["state"]["turn"] == 2 and out["state"]["objections"]["resolved"] == ["price"]
        transcript = second.roleplay.get(session)["transcript"]
        assert [t["role"] for t in transcript] == ["customer", "rep", "customer", "rep", "customer"]
    finally:
        second.close()


def test_scorecard_cites_the_reps_words_and_standard_ids(service):
    session = service.start("price-objection", "en")["session_id"]
    for message in GOOD_EN:
        service.turn(session, message)
    card = service.end(session)
    assert 0 <= card["score"] <= 100
    for row in card["rubric"]:
        assert row["id"].startswith("s") and any(row["evidence"] in m for m in GOOD_EN)
        assert row["turn"] in ((1, 2) if row["evidence"] else (0,))
    # Every point quotes the rep, except standards kept or missed over the whole session.
    assert all("“" in s or "(whole session)" in s for s in card["strengths"] + card["improvements"])
    assert sum(b["points"] for b in card["breakdown"]) == card["score"]
    assert service.get(session)["scorecard"] == card


def test_good_rep_outscores_poor_rep(service):
    good = service.start("price-objection", "en")["session_id"]
    for message in GOOD_EN:
        service.turn(good, message)
    poor = service.start("price-objection", "en")["session_id"]
    for message in ["Fine, 15% off.", "You're wrong, that's not true.", "Sign today or the price goes up."]:
        if service.turn(poor, message)["done"]:
            break
    assert service.end(good)["score"] - service.end(poor)["score"] >= 30


def _service_with(container, replies):
    model = GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))
    return RoleplayService(container, chat_model=model)


def test_llm_voices_the_customer_in_character(container):
    service = _service_with(container, ["Look, you dropped that fast. What's the real number then?"])
    session = service.start("price-objection", "en")["session_id"]
    out = service.turn(session, "OK, 10% off.")
    assert out["customer"] == "Look, you dropped that fast. What's the real number then?"
    assert service.get(session)["transcript"][-1]["voice"] == "llm"
    assert out["state"]["trust"] < 40  # the engine, not the LLM, decided the discount cost trust


def test_llm_slipping_into_the_sellers_voice_falls_back_to_the_script(container):
    service = _service_with(container, ["Our product can give you 10% off if you sign today!"])
    session = service.start("price-objection", "en")["session_id"]
    out = service.turn(session, "OK, 10% off.")
    assert "Our product" not in out["customer"]
    assert service.get(session)["transcript"][-1]["voice"] == "script"


def test_llm_error_falls_back_to_the_script(container):
    service = _service_with(container, [])  # the fake raises when it runs out of replies
    session = service.start("price-objection", "zh")["session_id"]
    out = service.turn(session, "我给您打九折。")
    assert out["customer"] and service.get(session)["transcript"][-1]["voice"] == "script"


def test_same_messages_give_the_same_state_with_or_without_llm(container):
    scripted = RoleplayService(container)
    voiced = _service_with(container, ["Hm. Go on.", "Fine, that's a case I can take upstairs."])
    states = []
    for service in (scripted, voiced):
        session = service.start("price-objection", "en")["session_id"]
        states.append([service.turn(session, m)["state"] for m in GOOD_EN])
    assert states[0] == states[1]


@pytest.mark.parametrize(
    ("reply", "lang", "ok"),
    [
        ("Still 20% more, though.", "en", True),
        ("还是贵了20%。", "zh", True),
        ("Sales: I can offer you a better deal.", "en", False),
        ("我们的产品可以给您优惠。", "zh", False),
        ("Still 20% more.", "zh", False),
        ("", "en", False),
    ],
)
def test_in_character_check(reply, lang, ok):
    assert in_character(reply, lang, "rep message") is ok


def test_a_long_turn_is_analysed_on_a_bounded_prefix(service, monkeypatch):
    from app.limits import MAX_ANALYSED_TOKENS

    seen: list[int] = []
    real = service.detector.embedder.embed_documents
    monkeypatch.setattr(service.detector.embedder, "embed_documents",
                        lambda texts: seen.extend(len(t) for t in texts) or real(texts))
    sid = service.start("price-objection", "en")["session_id"]
    reply = service.turn(sid, "I understand your concern about the price. " * 90)
    assert reply["feedback"] and seen and max(seen) <= 4 * MAX_ANALYSED_TOKENS  # a quarter token per letter


@pytest.mark.parametrize(
    ("reply", "situations", "scripted", "why"),
    [
        ("I'm sorry, but I can't assist with that.", ["pushback"], "It's still 20% more.",
         "refusal or assistant-speak"),
        ("好的，我明白了。谢谢您的解释。", ["premature_close"], "等等，我的问题还没解决呢，现在谈签约太早了。",
         "generic filler"),
        ("Sounds good, send it over and I'll sign.", ["premature_close"],
         "Slow down. You're asking for the order and I still have questions.",
         "contradicts the engine: it decided the customer pushes back"),
        ("Slow down, I still have questions before any contract.", ["premature_close"],
         "Slow down. You're asking for the order and I still have questions.", "in character"),
        ("How can I help you with your pricing today?", ["neutral"], "Hm. And?", "refusal or assistant-speak"),
    ],
)
def test_customer_voice_keeps_the_engines_stance(reply, situations, scripted, why):
    from app.roleplay.voice import judge_reply

    assert judge_reply(reply, "zh" if "好的" in reply else "en", "rep message", scripted, situations)[1] == why


def test_the_customer_prompt_carries_the_public_fact_sheet(container):
    model = GenericFakeChatModel(messages=iter([AIMessage(content="About 1.2 million parts a year, three lines.")]))
    service = RoleplayService(container, chat_model=model)
    prompts: list[str] = []

    class Recording:
        def invoke(self, prompt):
            prompts.append(prompt)
            return model.invoke(prompt)

    service.voice.model = Recording()
    session = service.start("price-objection", "en")["session_id"]
    service.turn(session, "How many parts a year do you run, roughly?")
    assert prompts and "1.2 million parts a year" in prompts[0]  # depth-0 facts: answerable in character
    assert "RMB 2 million" not in prompts[0]  # the budget (depth 1) stays with the engine's decision


@pytest.mark.parametrize("lang, proposal, ask", [
    ("en", "would it help if I put together a one-page payback summary for your CFO this week?",
     "Great, shall we sign the contract today?"),
    ("zh", "要不我这周给您的财务总监准备一页回本测算？", "那我们今天就把合同签了吧？"),
])
def test_proposing_a_next_step_before_a_buying_signal_is_not_a_premature_close(service, lang, proposal, ask):
    sid = service.start("price-objection", lang, rep="amy")["session_id"]
    out = service.turn(sid, proposal)
    assert not any(f["technique"] == "close" for f in out["feedback"])
    asked = service.turn(sid, ask)
    assert any(f["technique"] == "close" and f["verdict"] == "violated" for f in asked["feedback"])


@pytest.mark.parametrize("lang, ignored, answered", [
    ("zh", "嗯……这些我都听过了，还是没回答我的问题。还是那句话，贵20%。", "一年一百二十万件左右，三条线都要。"),
    ("en", "Look, I've heard all that. Still 20% more.", "Around 1.2 million parts a year, across all three lines."),
])
def test_a_voiced_reply_that_leaves_out_the_fact_the_engine_gives_is_not_used(scenarios, lang, ignored, answered):
    from app.roleplay.voice import judge_reply

    wordings = [scenarios["price-objection"].facts["volume"].get(lang)]
    question = "你们一年大概要采购多少台？" if lang == "zh" else "how many units a year?"
    assert judge_reply(ignored, lang, question, facts=wordings) == (False, "leaves out the fact the engine gives")
    assert judge_reply(answered, lang, question, facts=wordings)[0]


@pytest.mark.parametrize(("reply", "lang", "situations", "why"), [
    # Recorded real-model lines that today's engine decides differently: each takes the wrong stance.
    ("Hold on, we haven't sorted out my concern yet. It's too early to talk about signing. Right, that's a case I "
     "can take to the CFO. There's another thing: switching suppliers is a risk for us.", "en",
     ["obj:price:resolved", "obj:switch-risk:pushback"], "refuses to commit"),
    ("价格差摆在那儿，您绕不过去的。", "zh", ["obj:price:softened"], "only repeats the objection"),
    ("I think we'll leave it here. We'll go with another option.", "en", ["obj:price:softened"], "walks away"),
    ("If we went ahead, how soon could you start?", "en", ["walked_away"], "ends the conversation"),
    # and lines that keep it
    ("That's a fair trade and a case I can take to my CFO. What worries me now is the switch itself.", "en",
     ["obj:price:resolved", "obj:switch-risk:pushback"], None),
    ("嗯，这个思路有点意思，不过财务那边还得看更具体的数字。", "zh", ["obj:price:softened"], None),
])
def test_the_stance_reader_holds_a_model_line_to_the_engines_decision(embedder, reply, lang, situations, why):
    from app.roleplay.stance import StanceReader, contradiction

    found = contradiction(StanceReader(embedder).read(reply), situations)
    assert (found is None) if why is None else (found is not None and why in found), found


@pytest.mark.parametrize(("raw", "words"), [
    # What a real 1.5B model wrote as the customer (evals/results/sessions-recorded-sessions-openai.raw.jsonl)
    ('Sure, here\'s how the customer would respond in their own words:\n"Okay, that\'s concrete. Can you be more '
     'specific?"', "Okay, that's concrete. Can you be more specific?"),
    ("Okay, that's concrete.\nRep: Can I ask what happened the last time you switched suppliers?\nCustomer:\n"
     "I'm sorry, but I don't have any information on that.", "Okay, that's concrete."),
    ("客户：那你们最快什么时候能开始？", "那你们最快什么时候能开始？"),
])
def test_the_customers_words_are_cut_out_of_what_the_model_wrote(raw, words):
    from app.roleplay.voice import customer_words

    assert customer_words(raw) == words


def test_a_model_line_copying_an_earlier_line_of_the_conversation_is_not_used():
    from app.roleplay.voice import judge_reply

    first_rep = "王经理，理解您的顾虑，这个差价确实得跟老板讲清楚。方便说说老板最看重的是哪方面吗？"
    history = [("customer", "您的报价我收到了。"), ("rep", first_rep),
               ("customer", "嗯，这个角度有点意思，能再具体一点吗？")]
    rep = "那我下周把合同和分阶段切换计划发您，您带去跟财务总监过一下，行吗？"
    assert judge_reply(first_rep, "zh", rep, history=history) == (False, "echoes the rep")
    assert judge_reply("嗯，这个角度有点意思，能再具体一点吗？", "zh", rep, history=history) == (
        False, "repeats an earlier customer line")
    assert judge_reply("等等，合同的事先放一放，我的问题还没解决。", "zh", rep, history=history)[0]


@pytest.mark.parametrize(("reply", "scripted", "situations", "kept"), [
    ("Hold on, we haven't sorted out my concern yet. It's too early to talk about signing. Right, that's a case I "
     "can take to the CFO. There's another thing: switching suppliers is a risk for us.",
     "That's a fair trade. Right, that's a case I can take to the CFO. There's another thing: switching suppliers is "
     "a risk for us.", ["obj:price:resolved", "obj:switch-risk:pushback"], False),
    ("价格差摆在那儿，您绕不过去的。", "既然您这么问。这个我可以记下来，但还不够说服财务。",
     ["obj:price:softened"], False),
    ("Okay, that's concrete. Can you be more specific about the payback?",
     "Now that's concrete. Okay, that's a useful angle. Can you be more specific?", ["obj:price:softened"], True),
    ("等一下，问题还没解决，先别谈合同。", "等等，我的问题还没解决呢，现在谈签约太早了。", ["premature_close"], True),
])
def test_the_pair_model_holds_a_model_line_to_the_scripted_lines_stance(embedder, reply, scripted, situations, kept):
    from app.roleplay.stance import StanceReader

    reader = StanceReader(embedder)
    assert reader.pairs is not None  # shipped with the default embedder
    assert (reader.judge(reply, scripted, situations) is None) is kept


@pytest.mark.parametrize(("reply", "echo"), [
    ("好的，我明白了。请问你们一年大概要采购多少台？", True),  # a real 1.5B model asked the rep's question back
    ("Cut downtime 30%? Prove it.", False),  # a short quote is a fair question back
    ("一年一百二十万件左右，三条线都要。", False),
])
def test_a_line_asking_the_reps_question_back_is_an_echo(reply, echo):
    from app.roleplay.voice import judge_reply

    history = [("rep", "We cut downtime 30% at plants like yours.")]
    lang = "en" if "Cut" in reply else "zh"
    why = judge_reply(reply, lang, "顺便问下，你们一年大概要采购多少台？", history=history)[1]
    assert (why == "echoes the rep") is echo, why

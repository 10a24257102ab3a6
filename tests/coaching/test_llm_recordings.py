"""The recorded real-model exchanges (evals/recordings/), judged by the service's checks."""

from __future__ import annotations

import re

import pytest

from app.coaching.grounding import REFUSAL, split_answer
from app.coaching.support import SupportScorer
from app.config import ROOT
from app.evaluation.recordings import evaluate, load, recorded_hits
from app.knowledge.documents import load_knowledge
from tests.replay import RECORDINGS

TAGGED_SENTENCE = re.compile(r"\[[a-z0-9.]+\]\s*$")


@pytest.fixture(scope="module")
def result(embedder):
    from app.roleplay.stance import StanceReader
    from app.roleplay.techniques import Detector

    return evaluate(RECORDINGS, ROOT / "knowledge", SupportScorer(embedder), Detector(embedder),
                    StanceReader(embedder))


def test_at_least_70_percent_of_recorded_chat_answers_are_served(result):
    assert result["chat_answers"] == 17
    assert result["chat_served_after"] >= 12 and result["chat_served_after_rate"] >= 0.7
    assert result["chat_served_after"] > result["chat_served_before"]


def test_no_served_answer_has_a_canary_refusal_uncited_or_unsupported_sentence(result, embedder):
    items = {(i.id, i.lang): i for i in load_knowledge(ROOT / "knowledge")}
    exchanges = {e.n: e for e in load(RECORDINGS)}
    scorer = SupportScorer(embedder)
    for row in result["rows"]:
        if row["kind"] != "chat" or row["after"] == "replaced":
            continue
        text = row["served_text"]
        hits = {h.id: h for h in recorded_hits(exchanges[row["n"]], items)}
        assert "CANARY" not in text and not REFUSAL.search(text)
        for sentence in split_answer(text):
            assert sentence.tags, f"uncited advice served in #{row['n']}: {sentence.text}"
            assert set(sentence.tags) <= set(hits), f"a tag of an item not retrieved in #{row['n']}"
            scores = scorer.scores([sentence.text], [hits[t] for t in sentence.tags])[0]
            pairs = zip(scores, sentence.tags, strict=True)
            assert any(scorer.supports(float(s), sentence.text, hits[t]) for s, t in pairs)


def test_the_known_bad_answers_are_replaced_and_the_mangled_ones_repaired(result):
    rows = {r["n"]: r for r in result["rows"]}
    assert rows[8]["after"] == "replaced" and rows[8]["detail"] == "canary"
    assert rows[2]["detail"] == "repeats_previous"  # the previous answer copied back on a follow-up
    assert rows[26]["after"] == "replaced"  # two bare titles, no answer
    assert "id st4.caution.1 -> s4.caution.1" in rows[9]["detail"]
    assert "id c4.standard.3 -> s4.standard.3" in rows[29]["detail"]
    assert rows[0]["after"] == "repaired" and "[s4.caution.1]" in rows[0]["served_text"]  # untagged, now tagged
    assert rows[3]["after"] == "repaired" and "[s4.caution.2]" in rows[3]["served_text"]  # bold titles


def test_every_recorded_refusal_filler_and_contradicting_customer_line_is_replaced(result):
    rows = {r["n"]: r for r in result["rows"] if r["kind"] == "roleplay"}
    replaced = {n for n, r in rows.items() if r["after"] == "replaced"}
    # three refusals, two "我明白了，谢谢您的解释" fillers, and "still 20% more" to "how many units a year?"
    assert replaced == {12, 15, 16, 17, 18, 20}
    assert rows[16]["detail"] == "generic filler" and rows[17]["detail"] == "refusal or assistant-speak"
    assert rows[12]["detail"] == "leaves out the fact the engine gives"
    assert result["roleplay_replaced_before"] == 0

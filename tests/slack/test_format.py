"""Formatting for Slack: escaping, broadcast defusing, mrkdwn, and Slack input back to plain text."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from app.slack import format as fmt


@dataclass
class Citation:
    id: str
    title: str
    text: str = ""


@dataclass
class Result:
    answer: str
    citations: list[Citation] = field(default_factory=list)
    language: str = "en"
    status: str = "answered"
    conversation_id: str = "c"
    message_id: str = "msg_1"
    degraded: bool = False


@pytest.mark.parametrize(("raw", "shown"), [
    ("a & b < c > d", "a &amp; b &lt; c &gt; d"),
    ("<!channel> hi", "&lt;!channel&gt; hi"),
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ("ping @channel and @Here and @everyone", "ping @\u200bchannel and @\u200bHere and @\u200beveryone"),
    ("<https://evil.example|click>", "&lt;https://evil.example|click&gt;"),
    ("mail me@channel.com", "mail me@channel.com".replace("@channel", "@\u200bchannel")),
])
def test_escape_leaves_no_markup_and_no_broadcast(raw: str, shown: str) -> None:
    assert fmt.escape(raw) == shown


def test_plain_from_slack_unwraps_markup_and_drops_the_bots_mention() -> None:
    text = ("<@UBOT> hi <@U123|ann> see <#C1|sales> and <https://x.example/a?b=1&amp;c=2|the doc> or "
            "<https://y.example> &lt;b&gt; <!channel> <!subteam^S1|@team>")
    assert fmt.plain_from_slack(text, "UBOT") == (
        "hi @ann see #sales and the doc or https://y.example <b> @channel @team"
    )


def test_mrkdwn_converts_bold_bullets_headings_and_links_after_escaping() -> None:
    answer = "## Do this\n- **Value** first <b>\n* then trade [s4.caution.1]\nsee [doc](https://x.example)"
    assert fmt.to_mrkdwn(answer) == (
        "*Do this*\n• *Value* first &lt;b&gt;\n• then trade [s4.caution.1]\nsee doc (https://x.example)"
    )


def test_answer_message_has_sources_buttons_and_no_unsafe_text() -> None:
    result = Result("Trade, don't cut. [s4.caution.1] <!here>",
                    [Citation("s4.caution.1", "Don't cut the price easily"), Citation("s4.caution.1", "dup"),
                     Citation("s3.standard.2", "Lead with value <b>")], degraded=True)
    message = fmt.answer_message(result, question="what about @channel?")
    assert "<!here>" not in str(message)
    assert message["blocks"][0]["elements"][0]["text"] == "You asked: what about @\u200bchannel?"
    sources = [b for b in message["blocks"] if b["type"] == "context" and "Sources" in b["elements"][0]["text"]]
    assert sources[0]["elements"][0]["text"] == (
        "*Sources*\n• `s4.caution.1` Don't cut the price easily\n• `s3.standard.2` Lead with value &lt;b&gt;"
    )
    actions = next(b for b in message["blocks"] if b["type"] == "actions")
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
        ("feedback_up", "msg_1"), ("feedback_down", "msg_1")]
    assert any("Offline answer" in b["elements"][0]["text"] for b in message["blocks"] if b["type"] == "context")


def test_long_answers_are_split_into_sections_within_slacks_limit() -> None:
    message = fmt.answer_message(Result("\n".join(["x" * 100] * 80) + "\n" + "y" * 4000))
    sections = [b for b in message["blocks"] if b["type"] == "section"]
    assert len(sections) >= 3
    assert all(len(b["text"]["text"]) <= 3000 for b in sections)
    assert len(message["text"]) <= 4000


def test_mention_only_links_well_formed_user_ids() -> None:
    assert fmt.mention("U123ABC") == "<@U123ABC>"
    assert fmt.mention("!channel") == "!channel"
    assert fmt.mention("<!here>") == "&lt;!here&gt;"


def test_scorecard_and_turn_messages_escape_rep_and_customer_text() -> None:
    card = {"score": 40, "outcome": None, "summary": "s <b>", "strengths": ["“<!channel>” (turn 1) — ok"],
            "improvements": [], "rubric": [{"id": "s4.caution.1", "title": "T", "verdict": "violated", "turn": 1}]}
    text = fmt.scorecard_message(card, "en")["text"]
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text and "⚠️ `s4.caution.1` T (turn 1)" in text
    turn = fmt.turn_message({"customer": "fine @here", "feedback": [], "state": {"turn": 1, "max_turns": 8,
                             "trust": 40, "patience": 60, "progress": 20}}, "Wang <Lei>", "en")
    assert turn["text"] == "*Wang &lt;Lei&gt;:* fine @\u200bhere"
    assert turn["blocks"][-1]["elements"][0]["text"] == "Turn 1/8 · trust 40 · patience 60 · progress 20%"


def test_nul_characters_never_reach_storage() -> None:
    assert fmt.plain_from_slack("price\x00 objection\x00") == "price objection"

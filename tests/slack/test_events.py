"""Slack through real HTTP: signed requests against the app under uvicorn, replies recorded by a fake Slack."""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from app.coaching.store import Feedback
from app.db import utcnow
from app.main import create_app
from app.slack.store import SlackStore
from tests.slack.conftest import (
    BOT_ID,
    BOT_USER,
    SECRET,
    TEAM,
    TOKEN,
    FakeSlack,
    LiveServer,
    SlackClient,
    all_text,
    event_body,
    mention,
    message,
    new_id,
    new_ts,
    sign,
    slack_settings,
)

QUIET_S = 1.0  # how long to watch for a reply that must not come


# -- verification ----------------------------------------------------------------------------------------------


def test_url_verification_is_answered_with_the_challenge(slack: SlackClient) -> None:
    body = json.dumps({"token": "legacy", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"}).encode()
    response = slack.post(body, "application/json")
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


@pytest.mark.parametrize("case", ["tampered_body", "stale_timestamp", "missing_headers", "wrong_secret",
                                  "future_timestamp"])
def test_unverified_requests_get_401_and_do_nothing(slack: SlackClient, fake_slack: FakeSlack, case: str) -> None:
    body = json.dumps(event_body(mention("what do I do when the customer says we're too expensive?"),
                                 new_id("Ev"))).encode()
    headers = {"Content-Type": "application/json"}
    if case == "tampered_body":
        headers |= sign(body)
        body = body.replace(b"too expensive", b"too cheap!!!!")
    elif case == "stale_timestamp":
        headers |= sign(body, timestamp=int(time.time()) - 6 * 60)
    elif case == "future_timestamp":
        headers |= sign(body, timestamp=int(time.time()) + 6 * 60)
    elif case == "wrong_secret":
        headers |= sign(body, secret="0" * 32)
    response = slack.http.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 401
    time.sleep(QUIET_S)
    assert fake_slack.posts() == []


@pytest.mark.parametrize("timestamp", ["", "abc", "12.5", "-1", "9" * 40])
def test_a_malformed_timestamp_gets_400_saying_what_slack_sends(slack: SlackClient, fake_slack: FakeSlack,
                                                                 timestamp: str) -> None:
    body = json.dumps(event_body(mention("price?"), new_id("Ev"))).encode()
    headers = {**sign(body), "X-Slack-Request-Timestamp": timestamp}
    response = slack.post(body, "application/json", headers=headers, signed=False)
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "X-Slack-Request-Timestamp must be the request time in whole seconds since 1970, as Slack sends it"
    )
    time.sleep(QUIET_S)
    assert fake_slack.posts() == []


def test_a_signature_inside_the_five_minute_window_is_accepted(slack: SlackClient) -> None:
    body = json.dumps({"challenge": "c", "type": "url_verification"}).encode()
    old = int(time.time()) - 4 * 60
    response = slack.post(body, "application/json", headers=sign(body, timestamp=old), signed=False)
    assert response.status_code == 200


# -- asking in a thread ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("question", "lang", "label"), [
    ("客户说我们太贵了，要求降价怎么办？", "zh", "来源"),
    ("The customer says we're too expensive and asks for a discount. What should I do?", "en", "Sources"),
])
def test_a_mention_gets_one_threaded_answer_citing_the_price_caution(
    slack: SlackClient, fake_slack: FakeSlack, question: str, lang: str, label: str
) -> None:
    event = mention(question)
    started = time.monotonic()
    response = slack.event(event)
    assert response.status_code == 200
    assert time.monotonic() - started < 3.0

    posts = fake_slack.wait_for(1, "chat.postMessage")
    time.sleep(QUIET_S)
    assert len(fake_slack.posts()) == 1
    payload = posts[0]["payload"]
    assert payload["channel"] == "C0SALES"
    assert payload["thread_ts"] == event["ts"]
    assert payload["unfurl_links"] is False and payload["unfurl_media"] is False
    assert "s4.caution.1" in payload["text"]
    blocks = payload["blocks"]
    sources = next(b for b in blocks if b["type"] == "context" and label in b["elements"][0]["text"])
    assert "`s4.caution.1`" in sources["elements"][0]["text"]
    buttons = next(b for b in blocks if b["type"] == "actions")
    assert buttons["block_id"] == f"coach_feedback:{lang}"
    assert [e["action_id"] for e in buttons["elements"]] == ["feedback_up", "feedback_down"]
    assert posts[0]["auth"] == f"Bearer {TOKEN}"


def test_follow_ups_in_the_thread_continue_the_same_conversation(
    slack: SlackClient, fake_slack: FakeSlack, live: LiveServer
) -> None:
    first = mention("The customer says we're too expensive. What should I do?", user="U0FOLLOW")
    slack.event(first)
    fake_slack.wait_for(1, "chat.postMessage")
    # The asker replies in the thread without mentioning the app; a teammate's chatter there is left alone.
    slack.event(message("And if they still insist on a discount?", user="U0FOLLOW", thread_ts=first["ts"]))
    slack.event(message("nice thread", user="U0OTHER", thread_ts=first["ts"]))
    posts = fake_slack.wait_for(2, "chat.postMessage")
    time.sleep(QUIET_S)
    assert len(fake_slack.posts()) == 2
    assert {p["payload"]["thread_ts"] for p in posts} == {first["ts"]}

    history = live.container.chat.store.history(f"slack:{TEAM}:C0SALES:{first['ts']}")
    assert [t.role for t in history] == ["user", "assistant", "user", "assistant"]
    assert history[2].content == "And if they still insist on a discount?"


def test_a_direct_message_is_answered_in_its_thread(slack: SlackClient, fake_slack: FakeSlack) -> None:
    event = message("客户嫌贵怎么办？", channel="D0DIRECT", channel_type="im", user="U0DM")
    slack.event(event)
    posts = fake_slack.wait_for(1, "chat.postMessage")
    assert posts[0]["payload"]["channel"] == "D0DIRECT"
    assert posts[0]["payload"]["thread_ts"] == event["ts"]
    assert "s4.caution.1" in posts[0]["payload"]["text"]


def test_feedback_buttons_feed_the_chat_feedback_store(
    slack: SlackClient, fake_slack: FakeSlack, live: LiveServer
) -> None:
    slack.event(mention("The customer says we're too expensive. What should I do?", user="U0RATER"))
    answer = fake_slack.wait_for(1, "chat.postMessage")[0]["payload"]
    message_id = next(b for b in answer["blocks"] if b["type"] == "actions")["elements"][0]["value"]

    response = slack.action("feedback_down", message_id, "coach_feedback:en", user="U0RATER", hook="rate")
    assert response.status_code == 200
    thanks = fake_slack.wait_for(1, "response_url")
    assert thanks[0]["hook"] == "rate"
    assert thanks[0]["payload"]["response_type"] == "ephemeral"
    assert thanks[0]["payload"]["replace_original"] is False
    assert "👎" in thanks[0]["payload"]["text"]
    with live.container.database.session() as db:
        ratings = [(f.message_id, f.rating) for f in db.scalars(select(Feedback))]
    assert (message_id, "down") in ratings

    slack.action("feedback_up", "msg_unknown", "coach_feedback:en", hook="gone")
    gone = fake_slack.wait_for(2, "response_url")[-1]
    assert gone["hook"] == "gone" and "no longer on record" in gone["payload"]["text"]


# -- exactly once --------------------------------------------------------------------------------------------------


def test_the_same_event_delivered_three_times_is_answered_once(slack: SlackClient, fake_slack: FakeSlack) -> None:
    event, event_id = mention("客户说太贵了怎么办？", user="U0RETRY"), new_id("Ev")
    # The original and Slack's two retries, arriving together.
    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(lambda retry: slack.event(event, event_id, retry=retry), [None, 1, 2]))
    assert [r.status_code for r in responses] == [200, 200, 200]
    fake_slack.wait_for(1, "chat.postMessage")
    time.sleep(QUIET_S)
    assert len(fake_slack.posts()) == 1


def test_a_mention_that_is_also_a_message_event_is_answered_once(
    slack: SlackClient, fake_slack: FakeSlack
) -> None:
    first = mention("What do I do when the customer asks for a discount?", user="U0BOTH")
    slack.event(first)
    fake_slack.wait_for(1, "chat.postMessage")
    fake_slack.reset()
    # A reply in the thread that also mentions the app arrives as app_mention and as message (two event ids).
    ts = new_ts()
    text = f"<@{BOT_USER}> and if they push again?"
    both = [mention("and if they push again?", user="U0BOTH", ts=ts, thread_ts=first["ts"]),
            message(text, user="U0BOTH", ts=ts, thread_ts=first["ts"])]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(slack.event, both))
    fake_slack.wait_for(1, "chat.postMessage")
    time.sleep(QUIET_S)
    assert len(fake_slack.posts()) == 1


def test_no_double_answer_across_an_app_restart(tmp_path: Path, slack_index: Path, fake_slack: FakeSlack) -> None:
    fake_slack.reset()
    settings = slack_settings(tmp_path / "data", slack_index, fake_slack.api_url)
    event, event_id = mention("The customer says we are too expensive.", user="U0RESTART"), new_id("Ev")

    first = LiveServer(create_app(settings)).start()
    try:
        assert SlackClient(first, fake_slack).event(event, event_id).status_code == 200
        fake_slack.wait_for(1, "chat.postMessage")
    finally:
        first.stop()

    second = LiveServer(create_app(settings)).start()
    try:
        client = SlackClient(second, fake_slack)
        for retry in (1, 2):
            response = client.event(event, event_id, retry=retry)
            assert response.status_code == 200
        time.sleep(QUIET_S)
        assert len(fake_slack.posts("chat.postMessage")) == 1
        # The restarted app still answers new events.
        client.event(mention("The customer says we are too expensive.", user="U0RESTART"))
        assert len(fake_slack.wait_for(2, "chat.postMessage")) == 2
    finally:
        second.stop()


# -- who is ignored --------------------------------------------------------------------------------------------


def test_bot_messages_are_ignored(slack: SlackClient, fake_slack: FakeSlack) -> None:
    slack.event(message("客户说太贵了怎么办？", channel="D0DIRECT", channel_type="im", user="U0OTHERBOT",
                        bot_id="B0OTHER", subtype="bot_message"))
    slack.event(message("The customer says we're too expensive.", channel="D0DIRECT", channel_type="im",
                        user=BOT_USER, bot_id=BOT_ID))
    slack.event(mention("The customer says we're too expensive.", user="U0OTHERBOT") | {"bot_id": "B0OTHER"})
    slack.event(message("edited", channel="D0DIRECT", channel_type="im", subtype="message_changed"))
    slack.event(message("just chatting in a channel", user="U0HUMAN"))
    time.sleep(QUIET_S)
    assert fake_slack.posts() == []


# -- escaping --------------------------------------------------------------------------------------------------


def test_broadcasts_and_markup_in_a_question_are_escaped(slack: SlackClient, fake_slack: FakeSlack) -> None:
    # Slack sends @channel as <!channel> and escapes a typed <script> as &lt;script&gt;.
    nasty = "<!channel> <!here|here> &lt;script&gt;alert(1)&lt;/script&gt; customer says too expensive @everyone"
    slack.event(mention(nasty, user="U0NASTY"))
    slack.command("<!channel> <script>alert(1)</script> what if the customer says too expensive? @here",
                  user="U0NASTY", hook="nasty")
    posts = [*fake_slack.wait_for(1, "chat.postMessage"), *fake_slack.wait_for(1, "response_url")]
    assert len(posts) == 2
    for call in posts:
        shown = all_text(call)
        for forbidden in ("<!channel>", "<!here", "<!everyone>", "<script", "@channel", "@here", "@everyone"):
            assert forbidden not in shown
    asked = next(b for b in posts[1]["payload"]["blocks"] if b["type"] == "context")["elements"][0]["text"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in asked
    assert "@\u200bchannel" in asked and "@\u200bhere" in asked


# -- rate limit ------------------------------------------------------------------------------------------------


def test_asks_beyond_the_per_user_limit_get_a_friendly_message(slack: SlackClient, fake_slack: FakeSlack) -> None:
    for _ in range(4):  # the limit in these tests is 3 a minute
        slack.event(mention("The customer says we're too expensive.", user="U0EAGER"))
    answers = fake_slack.wait_for(3, "chat.postMessage")
    limited = fake_slack.wait_for(1, "chat.postEphemeral")
    time.sleep(QUIET_S)
    assert len(fake_slack.posts("chat.postMessage")) == 3 == len(answers)
    assert len(limited) == 1
    assert limited[0]["payload"]["user"] == "U0EAGER"
    assert "3 questions in the last minute" in limited[0]["payload"]["text"]

    response = slack.command("what if they want a discount?", user="U0EAGER")
    assert response.status_code == 200
    assert "Please wait" in response.json()["text"]


# -- slash command ---------------------------------------------------------------------------------------------


def test_slash_command_is_acked_fast_and_answered_ephemerally(slack: SlackClient, fake_slack: FakeSlack) -> None:
    started = time.monotonic()
    response = slack.command("客户说太贵了，要求打折怎么办？", user="U0SLASH", hook="slash")
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 3.0
    assert response.json()["text"] == "正在查找……"

    reply = fake_slack.wait_for(1, "response_url")[0]
    assert reply["hook"] == "slash"
    assert reply["payload"]["response_type"] == "ephemeral"
    assert "s4.caution.1" in reply["payload"]["text"]
    assert fake_slack.posts("chat.postMessage") == []


def test_help_lists_what_it_can_do_and_the_scenarios(slack: SlackClient, live: LiveServer) -> None:
    response = slack.command("help")
    assert response.status_code == 200
    text = response.json()["text"]
    assert "/coach roleplay" in text and "`end`" in text
    for scenario in live.container.roleplay.list_scenarios():
        assert f"`{scenario['id']}`" in text
    assert "价格异议" in slack.command("帮助").json()["text"]


def test_unknown_scenario_gets_the_list(slack: SlackClient, fake_slack: FakeSlack) -> None:
    response = slack.command("roleplay no-such-thing en")
    assert "There is no scenario `no-such-thing`" in response.json()["text"]
    assert "`price-objection`" in response.json()["text"]
    assert "Usage:" in slack.command("roleplay").json()["text"]
    time.sleep(0.3)
    assert fake_slack.posts() == []


def test_roleplay_in_a_channel_the_app_is_not_in_explains_how_to_invite(
    slack: SlackClient, fake_slack: FakeSlack
) -> None:
    slack.command("roleplay price-objection en", channel="CNOTMEMBER", hook="invite")
    reply = fake_slack.wait_for(1, "response_url")[0]
    assert "/invite" in reply["payload"]["text"]


# -- logging ---------------------------------------------------------------------------------------------------


def test_secrets_never_reach_the_logs(slack: SlackClient, fake_slack: FakeSlack,
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    slack.event(mention("The customer says we're too expensive.", user="U0LOGS"))
    slack.command("help")
    fake_slack.wait_for(1, "chat.postMessage")
    body = b'{"type":"url_verification","challenge":"x"}'
    slack.post(body, "application/json", headers=sign(body, secret="f" * 32), signed=False)
    assert caplog.records  # debug logging was on and captured
    assert SECRET not in caplog.text and TOKEN not in caplog.text


# -- leases and replays ----------------------------------------------------------------------------------------


def test_a_question_whose_process_died_after_the_ack_is_answered_by_a_retry(
    slack: SlackClient, fake_slack: FakeSlack, live: LiveServer
) -> None:
    event, event_id = mention("How do I handle a price objection?", user="U0CRASH"), new_id("Ev")
    # What a process that died after acknowledging leaves behind: both claims taken, never completed.
    store, long_ago = SlackStore(live.container.database), utcnow() - timedelta(minutes=5)
    assert store.claim(f"event:{event_id}", timedelta(seconds=60), now=long_ago)
    assert store.claim(f"message:{TEAM}:{event['channel']}:{event['ts']}", timedelta(seconds=60), now=long_ago)

    assert slack.event(event, event_id=event_id, retry=1).status_code == 200
    answer = fake_slack.wait_for(1, "chat.postMessage")
    assert len(answer) == 1 and "s4.caution.1" in all_text(answer[0])

    assert slack.event(event, event_id=event_id, retry=2).status_code == 200  # answered now: not again
    time.sleep(QUIET_S)
    assert len(fake_slack.posts("chat.postMessage")) == 1


def test_an_identical_slash_command_is_answered_once(slack: SlackClient, fake_slack: FakeSlack) -> None:
    form = {"token": "legacy", "team_id": TEAM, "team_domain": "test", "channel_id": "C0SALES",
            "channel_name": "sales", "user_id": "U0TWICE", "user_name": "rep", "command": "/coach",
            "text": "How do I handle a price objection?", "api_app_id": "A0COACH",
            "response_url": fake_slack.response_url("twice"), "trigger_id": new_id("trig")}
    body = urlencode(form).encode()
    headers = sign(body)
    first = slack.post(body, "application/x-www-form-urlencoded", headers=headers, signed=False)
    second = slack.post(body, "application/x-www-form-urlencoded", headers=headers, signed=False)
    assert first.status_code == 200 and first.json()["text"] == "Looking that up…"
    assert second.status_code == 200 and second.text == ""
    replies = fake_slack.wait_for(1, "response_url")
    time.sleep(QUIET_S)
    assert [r["hook"] for r in fake_slack.posts("response_url")] == ["twice"] == [r["hook"] for r in replies]

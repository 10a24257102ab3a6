"""A role-play played in a Slack thread through real HTTP: opening, turns with feedback, and the scorecard."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from app.slack.store import SlackStore
from tests.slack.conftest import TEAM, FakeSlack, LiveServer, SlackClient, message

REP, TRAINER, CHANNEL = "U0REP77", "U0TRAINER", "C0PRACTICE"


def transcript(calls: list[dict[str, Any]], rep_lines: dict[int, str]) -> str:
    """Render the fake server's record (and, between, what the rep wrote) as plain text."""
    out = []
    for i, call in enumerate(calls):
        if i in rep_lines:
            out.append(f"[rep {REP} in thread] {rep_lines[i]}")
        payload = call["payload"]
        where = f"thread_ts={payload['thread_ts']}" if payload.get("thread_ts") else "new message"
        out.append(f"--- {call['method']} channel={payload.get('channel', '-')} {where}\n{payload['text']}")
    return "\n".join(out)


def play(slack: SlackClient, fake: FakeSlack, thread_ts: str, text: str, expect: int) -> None:
    """Send one message in the thread as the rep and wait until `expect` messages were posted in total."""
    slack.event(message(text, user=REP, channel=CHANNEL, thread_ts=thread_ts))
    fake.wait_for(expect, "chat.postMessage")


def test_a_full_roleplay_in_a_thread_ends_in_a_scorecard(
    slack: SlackClient, fake_slack: FakeSlack, live: LiveServer, tmp_path: Path
) -> None:
    started = time.monotonic()
    ack = slack.command("roleplay price-objection en", user=REP, channel=CHANNEL)
    assert ack.status_code == 200 and time.monotonic() - started < 3.0
    assert ack.json() == {"text": 'Starting the role-play _Price objection: "You\'re 20% more expensive than X"_…',
                          "response_type": "ephemeral"}

    opening = fake_slack.wait_for(1, "chat.postMessage")[0]
    assert "thread_ts" not in opening["payload"]  # a new message, whose thread is the session
    assert "Wang Lei:" in opening["payload"]["text"] and "20%" in opening["payload"]["text"]
    assert opening["payload"]["unfurl_links"] is False
    thread = None
    for _ in range(100):
        rows = [t for t in _threads(live) if t.kind == "roleplay" and t.user == REP]
        if rows:
            thread = rows[0]
            break
        time.sleep(0.02)
    assert thread is not None and thread.session_id
    thread_ts = thread.key.split(":")[-1]
    assert thread.key == f"{TEAM}:{CHANNEL}:{thread_ts}"

    rep_lines = {}
    moves = [
        "OK, I can give you 10% off so we're closer to X.",
        "I understand, a 20% gap is hard to explain upstairs. Can I ask what's behind the comparison with X: is it "
        "the price itself, or how you'll justify it internally?",
        "That makes sense. On your volumes, our lower scrap rate saves about 400k a year, so the extra 20% pays back "
        "in about seven months. Unlike X, our price includes on-site engineers and training.",
    ]
    for n, move in enumerate(moves, start=1):
        rep_lines[n] = move
        play(slack, fake_slack, thread_ts, move, expect=n + 1)
        if n == 1:
            # A trainer watching the thread comments; that is not a turn.
            slack.event(message("Careful, don't lead with a discount.", user=TRAINER, channel=CHANNEL,
                                thread_ts=thread_ts))
    rep_lines[len(moves) + 1] = "end"
    play(slack, fake_slack, thread_ts, "end", expect=len(moves) + 2)
    time.sleep(1.0)

    calls = fake_slack.posts()
    assert [c["method"] for c in calls] == ["chat.postMessage"] * (len(moves) + 2)
    replies, scorecard = calls[1:-1], calls[-1]["payload"]
    assert all(c["payload"]["thread_ts"] == thread_ts for c in calls[1:])
    assert all(c["payload"]["text"].startswith("*Wang Lei:*") for c in replies)
    assert "s4.caution.1" in replies[0]["payload"]["text"] and "⚠️" in replies[0]["payload"]["text"]
    assert "✅" in replies[1]["payload"]["text"]
    assert scorecard["text"].startswith("🏁 *Scorecard* — Score: *")
    assert "To improve" in scorecard["text"] and "s4.caution.1" in scorecard["text"]

    session = live.container.roleplay.get(thread.session_id)
    assert session["status"] == "ended" and session["rep"] == f"slack:{REP}"
    assert [t["text"] for t in session["transcript"] if t["role"] == "rep"] == moves

    # After the scorecard, the thread is closed for play.
    play(slack, fake_slack, thread_ts, "One more thing...", expect=len(moves) + 3)
    assert "has ended" in fake_slack.posts()[-1]["payload"]["text"]

    text = transcript(calls, rep_lines)
    print("\n" + text)
    out = os.environ.get("SLACK_TRANSCRIPT_OUT")
    if out:
        Path(out).write_text(text + "\n", encoding="utf-8")


def test_a_chinese_roleplay_ends_with_jieshu(slack: SlackClient, fake_slack: FakeSlack, live: LiveServer) -> None:
    slack.command("roleplay price-objection zh", user="U0REPZH", channel=CHANNEL)
    opening = fake_slack.wait_for(1, "chat.postMessage")[0]["payload"]
    assert "王磊" in opening["text"]
    thread = None
    for _ in range(100):
        thread = next((t for t in _threads(live) if t.user == "U0REPZH"), None)
        if thread:
            break
        time.sleep(0.02)
    assert thread is not None and thread.lang == "zh"
    ts = thread.key.split(":")[-1]
    slack.event(message("我理解，20%的差价确实不好跟老板交代。您比较X的时候，主要是担心什么？", user="U0REPZH",
                        channel=CHANNEL, thread_ts=ts))
    fake_slack.wait_for(2, "chat.postMessage")
    slack.event(message("结束", user="U0REPZH", channel=CHANNEL, thread_ts=ts))
    card = fake_slack.wait_for(3, "chat.postMessage")[-1]["payload"]
    assert card["thread_ts"] == ts
    assert card["text"].startswith("🏁 *评分卡* — 得分：*")


def _threads(live: LiveServer) -> list[Any]:
    from sqlalchemy import select

    from app.slack.store import SlackThread

    store = SlackStore(live.container.database)
    with store.database.session() as db:
        keys = list(db.scalars(select(SlackThread.key)))
    return [store.thread(key) for key in keys]

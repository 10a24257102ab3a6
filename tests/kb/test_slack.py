"""Slack: a channel mapped to the retail base is answered, coached and rated from it; other channels are not."""

from __future__ import annotations

import html
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.db import Database
from app.knowledge.bases import KnowledgeBases
from app.main import create_app
from tests.kb.conftest import RETAIL_SCENARIO, Texts
from tests.slack.conftest import (
    TEAM,
    FakeSlack,
    LiveServer,
    SlackClient,
    fake_slack,
    mention,
    message,
    slack_settings,
)

__all__ = ["fake_slack"]  # the fake Slack Web API fixture, shared with tests/slack

STORE = "C0STORE"  # the shop-floor channel, mapped to `retail`
SALES = "C0SALES"  # everything else in the workspace: `default`
RETAIL_QUESTION = "A shopper wants to return an item she bought last week. What do I do?"
DEFAULT_QUESTION = "The customer says we're too expensive and asks for a discount. What should I do?"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, two_indexes: tuple[Path, Path], retail_folder: Path,
         fake_slack: FakeSlack) -> Iterator[LiveServer]:
    """One running app serving both bases, with the store channel mapped to `retail`."""
    data = tmp_path_factory.mktemp("kb-slack-data")
    shutil.copytree(two_indexes[1], data / "kb" / "retail" / "index")
    settings = slack_settings(data, two_indexes[0], fake_slack.api_url)
    database = Database(settings.db_url)
    bases = KnowledgeBases(database, settings)
    bases.add("retail", retail_folder)
    bases.map("slack_channel", f"{TEAM}:{STORE}", "retail")
    database.close()
    server = LiveServer(create_app(settings)).start()
    yield server
    server.stop()


@pytest.fixture
def slack(live: LiveServer, fake_slack: FakeSlack) -> Iterator[SlackClient]:
    """A client that speaks to the running app as Slack does, with a clean fake-Slack record."""
    fake_slack.reset()
    client = SlackClient(live, fake_slack)
    yield client
    client.http.close()


def _titles(payload: dict[str, Any], texts: Texts) -> set[str]:
    shown = html.unescape(str(payload))
    return {title for title in texts.titles if title in shown}


def test_mentions_are_answered_from_the_channel_s_base(
    slack: SlackClient, fake_slack: FakeSlack, live: LiveServer, default_texts: Texts, retail_texts: Texts
) -> None:
    store = mention(RETAIL_QUESTION, channel=STORE, user="U0SHOP")
    slack.event(store)
    answer = fake_slack.wait_for(1, "chat.postMessage")[0]["payload"]
    assert "Refund with a receipt within 30 days" in _titles(answer, retail_texts)
    assert not _titles(answer, default_texts)
    # A follow-up in the thread stays in the store's base.
    slack.event(message("and if she lost the receipt?", user="U0SHOP", channel=STORE, thread_ts=store["ts"]))
    follow = fake_slack.wait_for(2, "chat.postMessage")[1]["payload"]
    assert follow["thread_ts"] == store["ts"] and not _titles(follow, default_texts)

    slack.event(mention(DEFAULT_QUESTION, channel=SALES, user="U0SALES"))
    sales = fake_slack.wait_for(3, "chat.postMessage")[2]["payload"]
    assert "s4.caution.1" in sales["text"] and not _titles(sales, retail_texts)

    # 👍/👎 on a store answer counts in the store's base; the same message id clicked from another channel does not.
    message_id = next(b for b in answer["blocks"] if b["type"] == "actions")["elements"][0]["value"]
    slack.action("feedback_down", message_id, "coach_feedback:en", user="U0SHOP", hook="elsewhere", channel=SALES)
    elsewhere = fake_slack.wait_for(1, "response_url", where=lambda c: c["hook"] == "elsewhere")[0]["payload"]
    assert "no longer on record" in elsewhere["text"]
    slack.action("feedback_down", message_id, "coach_feedback:en", user="U0SHOP", hook="rate", channel=STORE)
    rated = fake_slack.wait_for(1, "response_url", where=lambda c: c["hook"] == "rate")[0]["payload"]
    assert "👎" in rated["text"]
    report = live.container.chat.unanswered(kb="retail")
    assert [r["question"] for r in report] == [RETAIL_QUESTION]
    assert RETAIL_QUESTION not in {r["question"] for r in live.container.chat.unanswered()}


def test_the_slash_command_and_role_play_use_the_channel_s_base(
    slack: SlackClient, fake_slack: FakeSlack, live: LiveServer, default_texts: Texts, retail_texts: Texts
) -> None:
    slack.command(RETAIL_QUESTION, channel=STORE, user="U0SHOP2", hook="ask")
    reply = fake_slack.wait_for(1, "response_url", where=lambda c: c["hook"] == "ask")[0]["payload"]
    assert _titles(reply, retail_texts) and not _titles(reply, default_texts)

    helped = slack.command("help", channel=STORE).json()
    assert RETAIL_SCENARIO in str(helped) and "price-objection" not in str(helped)
    unknown = slack.command("roleplay price-objection en", channel=STORE).json()["text"]
    assert unknown.startswith("There is no scenario `price-objection`") and RETAIL_SCENARIO in unknown

    ack = slack.command(f"roleplay {RETAIL_SCENARIO} en", channel=STORE, user="U0SHOP3")
    assert ack.status_code == 200
    fake_slack.wait_for(1, "chat.postMessage")
    thread = None
    for _ in range(200):
        rows = _threads(live, "U0SHOP3")
        if rows:
            thread = rows[0]
            break
        time.sleep(0.02)
    assert thread is not None
    thread_ts = thread.key.split(":")[-1]
    slack.event(message("What is really behind the concern about the price?", user="U0SHOP3", channel=STORE,
                        thread_ts=thread_ts))
    slack.event(message("Fine, I'll just take 20% off the price right now.", user="U0SHOP3", channel=STORE,
                        thread_ts=thread_ts))
    fake_slack.wait_for(3, "chat.postMessage")
    slack.event(message("end", user="U0SHOP3", channel=STORE, thread_ts=thread_ts))
    posts = fake_slack.wait_for(4, "chat.postMessage")
    coached = [p["payload"] for p in posts[1:]]
    assert any(_titles(p, retail_texts) for p in coached)
    assert not any(_titles(p, default_texts) for p in coached)
    session = live.container.roleplay.get(thread.session_id, kb="retail")
    assert session["scenario"]["id"] == RETAIL_SCENARIO and session["status"] == "ended"


def _threads(live: LiveServer, user: str) -> list[Any]:
    from sqlalchemy import select

    from app.slack.store import SlackThread

    with live.container.database.session() as db:
        rows = list(db.scalars(select(SlackThread).where(SlackThread.user == user, SlackThread.kind == "roleplay")))
        db.expunge_all()
    return rows

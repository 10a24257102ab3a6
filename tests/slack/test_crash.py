"""A process killed with SIGKILL after acknowledging Slack work: another process finishes it, exactly once.

No Slack retry comes (Slack stops retrying once a delivery was acknowledged): only the claim stored with the work,
taken by the other process's sweeper when its lease runs out, gets the question answered. The fake Slack stalls
the dying process's reply either before Slack takes it in (the reply was never posted) or after (it was posted,
but the process died before it could mark the work done).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import Server, service_env
from tests.slack.conftest import SECRET, SLACK_EMBEDDER, TOKEN, FakeSlack, SlackClient, mention

LEASE_S, SWEEP_S = 5, 0.5
ANSWERED_WITHIN_S = LEASE_S + 25  # lease, a sweep, and the answer, with room for a loaded machine
QUIET_S = 2.0


def slack_service_env(data: Path, fake: FakeSlack, **settings: str) -> dict[str, str]:
    """Return a service process's environment with Slack on, against the fake, with a short lease."""
    return service_env(data, embedder=SLACK_EMBEDDER, slack_signing_secret=SECRET, slack_bot_token=TOKEN,
                       slack_api_url=fake.api_url, slack_claim_lease_s=str(LEASE_S),
                       slack_sweep_interval_s=str(SWEEP_S), slack_rate_limit_per_minute="100", **settings)


@pytest.fixture
def env(tmp_path: Path, slack_index: Path, fake_slack: FakeSlack) -> Iterator[dict[str, str]]:
    fake_slack.reset()
    shutil.copytree(slack_index, tmp_path / "data" / "index")
    yield slack_service_env(tmp_path / "data", fake_slack)
    fake_slack.release()


def answers(fake: FakeSlack, channel: str) -> list[dict]:
    return [c for c in fake.posts("chat.postMessage") if c["payload"]["channel"] == channel]


def test_a_question_acked_by_a_process_killed_before_it_replied_is_answered_once_by_another(
    env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    dying, other = Server(env, tmp_path / "a.log"), Server(env, tmp_path / "b.log")
    dying.start()
    other.start()
    try:
        dying.wait_ready()
        other.wait_ready()
        # C0LOST: the reply never reaches Slack. C0POSTED: it does, the process dies before it marks it done.
        # /coach: the private answer never reaches the response_url.
        fake_slack.hold(lambda method, payload: {"C0LOST": "before", "C0POSTED": "after"}.get(
            str(payload.get("channel"))) or ("before" if method == "response_url" else None))
        client = SlackClient(dying, fake_slack)
        lost, posted = mention("How do I handle a price objection?", channel="C0LOST"), mention(
            "客户说太贵了怎么办？", channel="C0POSTED")
        assert client.event(lost).status_code == 200
        assert client.event(posted).status_code == 200
        command = client.command("What do I do when the customer asks for a discount?", hook="crash")
        assert command.status_code == 200 and command.json()["text"] == "Looking that up…"
        deadline = time.monotonic() + 60
        while fake_slack.held() < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fake_slack.held() == 3, dying.log()  # all three acknowledged, none finished
        dying.kill()
        fake_slack.release()
        killed_at = time.monotonic()

        deadline = killed_at + ANSWERED_WITHIN_S
        while time.monotonic() < deadline and not (answers(fake_slack, "C0LOST") and fake_slack.visible("crash")):
            time.sleep(0.1)
        time.sleep(QUIET_S + LEASE_S)  # a second sweeper pass would have redone it by now
        replies = answers(fake_slack, "C0LOST")
        assert len(replies) == 1, other.log()
        assert replies[0]["payload"]["thread_ts"] == lost["ts"] and "s4.caution.1" in replies[0]["payload"]["text"]
        assert len(answers(fake_slack, "C0POSTED")) == 1  # posted once by the process that died; not again
        # It was found by the claim in its metadata, in the thread.
        looked = [c["payload"] for c in fake_slack.calls if c["method"] == "conversations.replies"
                  and c["payload"].get("channel") == "C0POSTED"]
        assert looked and looked[0]["ts"] == posted["ts"] and looked[0]["include_all_metadata"] in ("1", "true")
        shown = fake_slack.visible("crash")
        assert len(shown) == 1 and shown[0]["response_type"] == "ephemeral", shown
        assert "s4.caution.1" in shown[0]["text"]
    finally:
        fake_slack.release()
        dying.stop()
        other.stop()

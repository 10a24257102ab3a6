"""Trainer pages: sign-in, dashboard and heatmap, review with comments and overrides, assignments, gaps, CSV."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, timedelta

import pytest

from tests.web.conftest import TRAINER_TOKEN, csrf_of, sign_in_rep, sign_in_trainer

# A sales question the standards do not cover: it belongs on the knowledge-gaps page.
GAP = "What is a good win rate for enterprise deals, is 15% bad?"


def _session(client, rep: str, messages: list[str]) -> str:
    sid = client.post("/v1/roleplay/sessions", json={"scenario": "price-objection", "lang": "en", "rep": rep})
    session_id: str = sid.json()["session_id"]
    for message in messages:
        client.post(f"/v1/roleplay/sessions/{session_id}/turns", json={"message": message})
    client.post(f"/v1/roleplay/sessions/{session_id}/end")
    return session_id


@pytest.fixture
def trainer(web):
    """A trainer signed in over two reps' ended sessions."""
    web.sessions = {  # type: ignore[attr-defined]
        "amy": _session(web, "amy", ["OK, 10% off.", "You're wrong about that."]),
        "=bo": _session(web, "=bo", ["I understand. What is the 20% compared against?"]),
    }
    web.csrf = sign_in_trainer(web)  # type: ignore[attr-defined]
    return web


@pytest.mark.parametrize("path", ["/trainer", "/trainer/gaps", "/trainer/reps/amy", "/trainer/sessions/x",
                                  "/trainer/sessions.csv", "/trainer/heatmap.csv"])
def test_trainer_pages_need_a_trainer_sign_in(web, path):
    sign_in_rep(web)  # a rep is not a trainer
    response = web.get(path, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/trainer/sign-in?next=")


def test_a_wrong_trainer_token_is_refused(web):
    token = csrf_of(web, "/trainer/sign-in")
    response = web.post("/trainer/sign-in", data={"token": "wrong", "csrf": token})
    assert response.status_code == 401 and "not valid" in response.text
    assert web.get("/trainer", follow_redirects=False).status_code == 303
    assert TRAINER_TOKEN not in response.text


def test_trainer_posts_need_the_csrf_token(trainer):
    sid = trainer.sessions["amy"]
    response = trainer.post(f"/trainer/sessions/{sid}/comments", data={"turn": 1, "text": "x"})
    assert response.status_code == 403


def test_dashboard_shows_sessions_per_rep_and_the_heatmap(trainer):
    page = trainer.get("/trainer").text
    assert '<table class="data heat">' in page
    amy_row = re.search(r'<tr><th scope="row"><a href="/trainer/reps/amy">amy</a></th>(.*?)</tr>', page, re.S)
    assert amy_row and "V 100" in amy_row.group(1) and "hsl(0, 65%, 82%)" in amy_row.group(1)
    assert "/trainer/reps/%3Dbo" in page
    one = trainer.get("/trainer/reps/amy").text
    assert "Rep: amy" in one and "/trainer/reps/%3Dbo" not in one


def test_review_comment_and_overrides_keep_the_original_and_feed_the_dashboard(trainer):
    sid = trainer.sessions["amy"]
    page = trainer.get(f"/trainer/sessions/{sid}").text
    assert "OK, 10% off." in page and 'id="turn-1"' in page
    comment = trainer.post(f"/trainer/sessions/{sid}/comments", data={"turn": 1, "text": "Trade it.",
                                                                      "csrf": trainer.csrf})
    assert comment.status_code == 200 and "Trade it." in comment.text
    assert trainer.post(f"/trainer/sessions/{sid}/comments", data={"turn": 9, "text": "x", "csrf": trainer.csrf}) \
        .status_code == 400
    trainer.post(f"/trainer/sessions/{sid}/verdicts", data={"standard": "s4.caution.1", "original": "violated",
                                                            "verdict": "followed", "reason": "was traded",
                                                            "csrf": trainer.csrf})
    review = trainer.get(f"/trainer/sessions/{sid}").text
    rubric = review.split('id="rubric"', 1)[1]
    row = re.search(r"<code>s4.caution.1</code>.*?</tr>", rubric, re.S).group(0)
    assert "verdict-violated" in row and "verdict-followed" in row and "was traded" in row
    trainer.post(f"/trainer/sessions/{sid}/score", data={"score": "55", "reason": "fair", "csrf": trainer.csrf})
    assert "the coach scored" in trainer.get(f"/trainer/sessions/{sid}").text
    heat = csv.DictReader(io.StringIO(trainer.get("/trainer/heatmap.csv").text))
    cell = next(r for r in heat if r["rep"] == "amy" and r["standard"] == "s4.caution.1")
    assert cell["followed"] == "1" and cell["violated"] == "0"
    sessions = list(csv.DictReader(io.StringIO(trainer.get("/trainer/sessions.csv").text)))
    amy = next(r for r in sessions if r["rep"] == "amy")
    assert amy["score"] == "55" and amy["engine_score"] != "55"
    bad = trainer.post(f"/trainer/sessions/{sid}/verdicts", data={"standard": "s9.x.1", "original": "violated",
                                                                  "verdict": "followed", "csrf": trainer.csrf})
    assert bad.status_code == 404
    assert trainer.post(f"/trainer/sessions/{sid}/score", data={"score": "101", "csrf": trainer.csrf}) \
        .status_code == 400


def test_the_rep_sees_comments_and_the_trainers_score(trainer):
    sid = trainer.sessions["amy"]
    trainer.post(f"/trainer/sessions/{sid}/comments", data={"turn": 1, "text": "Trade it.", "csrf": trainer.csrf})
    trainer.post(f"/trainer/sessions/{sid}/score", data={"score": "55", "csrf": trainer.csrf})
    sign_in_rep(trainer, "amy")
    card = trainer.get(f"/sessions/{sid}/scorecard").text
    assert "Trade it." in card and "<strong>55</strong>" in card and "Set by your trainer" in card


def test_csv_exports_are_formula_safe(trainer):
    rows = list(csv.reader(io.StringIO(trainer.get("/trainer/sessions.csv").text)))
    assert rows[0][:3] == ["session_id", "rep", "scenario"]
    assert "'=bo" in [r[1] for r in rows[1:]] and "=bo" not in [r[1] for r in rows[1:]]
    heat = trainer.get("/trainer/heatmap.csv")
    assert heat.headers["content-type"].startswith("text/csv") and "\n'=bo," in heat.text


def test_assignments_and_their_status_on_both_sides(trainer):
    due = (date.today() + timedelta(days=3)).isoformat()
    trainer.post("/trainer/assignments", data={"scenario": "price-objection", "reps": "dee, amy", "due": due,
                                               "min_score": "60", "csrf": trainer.csrf})
    past = (date.today() - timedelta(days=1)).isoformat()
    trainer.post("/trainer/assignments", data={"scenario": "no-budget", "reps": "dee", "due": past,
                                               "min_score": "60", "csrf": trainer.csrf})
    page = trainer.get("/trainer").text
    assert page.count("status-not_started") == 2 and "status-past_due" in page
    unknown = trainer.post("/trainer/assignments", data={"scenario": "nope", "reps": "dee", "due": due,
                                                         "csrf": trainer.csrf})
    assert unknown.status_code == 404
    sign_in_rep(trainer, "dee")
    token = csrf_of(trainer, "/practice")
    mine = trainer.get("/practice").text
    assert "Assigned to you" in mine and "not started" in mine and "past due" in mine
    start = trainer.post("/practice/price-objection", data={"lang": "en", "csrf": token}, follow_redirects=False)
    assert "in progress" in trainer.get("/attempts").text
    trainer.post(f"{start.headers['location']}/turns", data={"message": "OK, 20% off.", "csrf": token})
    trainer.post(f"{start.headers['location']}/end", data={"csrf": token})
    assert "below minimum" in trainer.get("/attempts").text


def test_gaps_link_to_a_standard_and_mark_out_of_scope(trainer, tmp_path):
    sign_in_rep(trainer, "amy")
    token = csrf_of(trainer, "/chat")
    trainer.post("/chat", data={"message": GAP, "csrf": token})
    trainer.post("/chat", data={"message": "Can I give away free shipping to close?", "csrf": token})
    location = trainer.post("/chat", data={"message": "How do I handle a price objection?", "csrf": token},
                            follow_redirects=False).headers["location"]
    trainer.post(f"/chat/answers/{location.rsplit('#a-', 1)[1]}/feedback",
                 data={"rating": "down", "csrf": token})
    sign_in_trainer(trainer)
    page = trainer.get("/trainer/gaps").text
    assert GAP in page and "How do I handle a price objection?" in page
    response = trainer.post("/trainer/gaps/link", data={"question": "How do I handle a price objection?",
                                                        "language": "en", "item": "s4.standard.2",
                                                        "csrf": trainer.csrf})
    assert "linked to s4.standard.2" in response.text
    learned = (tmp_path / "knowledge" / "learned-phrases.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(learned[-1]) | {"added_at": ""} == {"id": "s4.standard.2", "lang": "en", "added_at": "",
                                                          "phrase": "How do I handle a price objection?"}
    trainer.post("/trainer/gaps/out-of-scope", data={"question": GAP,
                                                     "language": "en", "csrf": trainer.csrf})
    assert "out of scope</td>" in trainer.get("/trainer/gaps").text
    unknown = trainer.post("/trainer/gaps/link", data={"question": "q", "language": "en", "item": "s9.x",
                                                       "csrf": trainer.csrf})
    assert unknown.status_code == 400


def test_trainer_sign_in_is_off_without_tokens(tmp_path, usem3_index):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from tests.web.conftest import web_settings

    with TestClient(create_app(web_settings(tmp_path, usem3_index, trainer_tokens="")),
                    headers={"Accept": "text/html"}) as client:
        page = client.get("/trainer/sign-in").text
        assert "COACH_TRAINER_TOKENS" in page and 'name="token"' not in page
        token = csrf_of(client, "/trainer/sign-in") if 'name="csrf"' in page else csrf_of(client)
        assert client.post("/trainer/sign-in", data={"token": "", "csrf": token}).status_code == 401

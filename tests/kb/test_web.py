"""The web app serves each rep the knowledge base they are mapped to: chat, standards, practice and scorecard."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.kb.conftest import RETAIL_SCENARIO, Texts, kb_settings
from tests.web.conftest import sign_in_rep, sign_in_trainer

RETAIL_QUESTION = "A shopper wants to return an item she bought last week. What do I do?"
DEFAULT_QUESTION = "The customer says we are 20% more expensive than the competitor. Should I give a discount?"


@pytest.fixture
def web(tmp_path: Path, two_indexes: tuple[Path, Path], retail_folder: Path) -> Iterator[TestClient]:
    """The web app over both bases, with rep "rita" mapped to `retail` (amy is not mapped: `default`)."""
    app = create_app(kb_settings(tmp_path, two_indexes, retail_folder))
    with TestClient(app, headers={"Accept": "text/html"}) as client:
        client.app.state.container.bases.map("user", "rita", "retail")  # type: ignore[attr-defined]
        yield client


def _titles_in(page: str, texts: Texts) -> set[str]:
    page = html.unescape(page)
    return {title for title in texts.titles if title in page}


def _ask(client: TestClient, csrf: str, question: str, conversation: str = "") -> str:
    response = client.post("/chat", data={"message": question, "csrf": csrf, "conversation_id": conversation},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    found = re.match(r"^/chat/(conv_\w+)#a-(msg_\w+)$", response.headers["location"])
    assert found
    return found.group(1)


def test_a_mapped_rep_asks_and_follows_up_in_their_own_base(
    web: TestClient, default_texts: Texts, retail_texts: Texts
) -> None:
    csrf = sign_in_rep(web, "rita")
    conversation = _ask(web, csrf, RETAIL_QUESTION)
    _ask(web, csrf, "and if she lost the receipt?", conversation)
    page = web.get(f"/chat/{conversation}").text
    assert page.count('class="msg answer"') == 2
    assert "Refund with a receipt within 30 days" in page
    assert not _titles_in(page, default_texts)

    # amy is served the default standards, and rita's conversation is not hers to open.
    web.cookies.clear()
    csrf = sign_in_rep(web, "amy")
    mine = _ask(web, csrf, DEFAULT_QUESTION)
    page = web.get(f"/chat/{mine}").text
    assert "Don&#39;t cut the price easily" in page or "Don't cut the price easily" in page
    assert not _titles_in(page, retail_texts)
    assert web.get(f"/chat/{conversation}").status_code == 404


def test_standards_and_practice_pages_show_the_rep_s_base(
    web: TestClient, default_texts: Texts, retail_texts: Texts
) -> None:
    csrf = sign_in_rep(web, "rita")
    standards = web.get("/standards").text
    assert _titles_in(standards, retail_texts) >= {"Greet within ten seconds", "Never accuse a shopper of shoplifting"}
    assert not _titles_in(standards, default_texts)
    practice = web.get("/practice").text
    assert f"/practice/{RETAIL_SCENARIO}" in practice and "/practice/price-objection" not in practice
    assert web.get("/practice/price-objection").status_code == 404

    started = web.post(f"/practice/{RETAIL_SCENARIO}", data={"lang": "en", "csrf": csrf}, follow_redirects=False)
    assert started.status_code == 303
    session = started.headers["location"]
    for message in ("What is really behind the concern about the price?",
                    "Fine, I'll just take 20% off the price right now."):
        web.post(f"{session}/turns", data={"message": message, "csrf": csrf})
    web.post(f"{session}/end", data={"csrf": csrf})
    card = web.get(f"{session}/scorecard").text
    assert _titles_in(card, retail_texts) and not _titles_in(card, default_texts)

    web.cookies.clear()
    sign_in_rep(web, "amy")
    assert web.get(session).status_code == 404  # not amy's session, and not her base's
    practice = web.get("/practice").text
    assert "/practice/price-objection" in practice and f"/practice/{RETAIL_SCENARIO}" not in practice


def test_a_trainer_switches_base_and_sees_only_its_sessions_and_gaps(
    web: TestClient, default_texts: Texts, retail_texts: Texts
) -> None:
    csrf = sign_in_rep(web, "rita")
    _ask(web, csrf, "Can a shopper pay with a gift card and a credit card together?")
    started = web.post(f"/practice/{RETAIL_SCENARIO}", data={"lang": "en", "csrf": csrf}, follow_redirects=False)
    session_id = started.headers["location"].rsplit("/", 1)[1]
    web.post(f"/sessions/{session_id}/turns", data={"message": "Fine, I'll just take 20% off the price right now.",
                                                     "csrf": csrf})
    web.post(f"/sessions/{session_id}/end", data={"csrf": csrf})
    answer = web.app.state.container.chat.conversations("rita", channel="web", kb="retail")  # type: ignore[attr-defined]
    message = web.app.state.container.chat.transcript(answer[0]["id"], kb="retail")["messages"][1]  # type: ignore[attr-defined]
    web.app.state.container.chat.feedback(message["id"], "down", "wrong", kb="retail")  # type: ignore[attr-defined]

    web.cookies.clear()
    csrf = sign_in_trainer(web)
    default_page = web.get("/trainer").text
    assert session_id not in default_page and "rita" not in default_page
    assert "gift card" not in web.get("/trainer/gaps").text
    assert web.get(f"/trainer/sessions/{session_id}").status_code == 404
    switched = web.post("/trainer/kb", data={"kb": "retail", "csrf": csrf, "next": "/trainer"},
                        follow_redirects=False)
    assert switched.status_code == 303
    retail_page = web.get("/trainer").text
    assert session_id in retail_page and "rita" in retail_page
    review = web.get(f"/trainer/sessions/{session_id}").text
    assert _titles_in(review, retail_texts) and not _titles_in(review, default_texts)
    gaps = web.get("/trainer/gaps").text
    assert "gift card" in gaps and "Refund with a receipt within 30 days" in html.unescape(gaps)
    assert not _titles_in(gaps, default_texts)
    assert web.post("/trainer/kb", data={"kb": "nope", "csrf": csrf}).status_code == 400


def test_assignments_belong_to_the_trainer_s_base(web: TestClient) -> None:
    csrf = sign_in_trainer(web)
    assert web.post("/trainer/kb", data={"kb": "retail", "csrf": csrf}, follow_redirects=False).status_code == 303
    due = "2030-01-31"
    wrong = web.post("/trainer/assignments", data={"scenario": "price-objection", "reps": "rita", "due": due,
                                                   "csrf": csrf})
    assert wrong.status_code == 404
    made = web.post("/trainer/assignments", data={"scenario": RETAIL_SCENARIO, "reps": "rita", "due": due,
                                                  "csrf": csrf}, follow_redirects=False)
    assert made.status_code == 303
    assert [a["scenario"] for a in web.app.state.container.training.assignments(kb="retail")] == [  # type: ignore[attr-defined]
        RETAIL_SCENARIO]
    assert web.app.state.container.training.assignments() == []  # type: ignore[attr-defined]
    assert due in web.get("/trainer").text
    web.post("/trainer/kb", data={"kb": "default", "csrf": csrf})
    assert due not in web.get("/trainer").text

    web.cookies.clear()
    sign_in_rep(web, "rita")
    assert due in web.get("/practice").text

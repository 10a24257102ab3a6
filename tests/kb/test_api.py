"""Two knowledge bases from one service through the API: nothing of one ever reaches a user of the other."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.kb.conftest import RETAIL_SCENARIO, RETAIL_TRAINS, TRAINER_TOKEN, Texts

RETAIL = {"kb": "retail"}
TRAINER = {"Authorization": f"Bearer {TRAINER_TOKEN}"}
QUESTIONS = [
    "A shopper wants to return trousers without the receipt",
    "How do I handle a price objection?",
    "客户嫌贵怎么办",
    "The queue at the checkout is getting long",
    "How do I open a cold call?",
]


def _hits(client: TestClient, query: str, **params: str) -> list[dict[str, Any]]:
    response = client.post("/v1/search", json={"query": query, "k": 5}, params=params)
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["hits"]
    return hits


def test_search_serves_each_base_its_own_items(
    kb_client: TestClient, default_texts: Texts, retail_texts: Texts
) -> None:
    for query in QUESTIONS:
        default_hits, retail_hits = _hits(kb_client, query), _hits(kb_client, query, **RETAIL)
        assert default_hits and all(default_texts.owns(h) and not retail_texts.owns(h) for h in default_hits), query
        assert retail_hits and all(retail_texts.owns(h) and not default_texts.owns(h) for h in retail_hits), query
    top = _hits(kb_client, QUESTIONS[0], **RETAIL)[0]
    assert (top["id"], top["title"]) == ("s3.standard.1", "Refund with a receipt within 30 days")
    # The header chooses the base as the query parameter does.
    by_header = kb_client.post("/v1/search", json={"query": QUESTIONS[3], "k": 3}, headers={"X-Coach-KB": "retail"})
    assert [h["title"] for h in by_header.json()["hits"]] == [h["title"] for h in _hits(kb_client, QUESTIONS[3],
                                                                                          **RETAIL)][:3]


def test_an_unknown_base_is_a_400_naming_the_known_ones(kb_client: TestClient) -> None:
    for response in (
        kb_client.post("/v1/search", json={"query": "price"}, params={"kb": "nope"}),
        kb_client.post("/v1/chat", json={"message": "price"}, headers={"X-Coach-KB": "nope"}),
        kb_client.get("/v1/roleplay/scenarios", params={"kb": "nope"}),
        kb_client.get("/v1/knowledge/items", params={"kb": "nope"}),
    ):
        assert response.status_code == 400
        assert response.json() == {"detail": "knowledge base 'nope' not found; known: default, retail "
                                             "(see `coach kb list`)"}
    malformed = kb_client.post("/v1/search", json={"query": "price"}, params={"kb": "../etc"})
    assert malformed.status_code == 422


def test_knowledge_items_are_the_base_s_own(kb_client: TestClient, retail_texts: Texts) -> None:
    items = kb_client.get("/v1/knowledge/items", params=RETAIL).json()["items"]
    assert len(items) == 12
    assert {(i["id"], i["langs"]["en"]["title"]) for i in items} == retail_texts.pairs
    assert len(kb_client.get("/v1/knowledge/items").json()["items"]) > 40
    one = kb_client.get("/v1/knowledge/items/s3.caution.1", params=RETAIL).json()
    assert one["langs"]["en"]["title"] == "Never accuse a shopper of shoplifting"


def _chat(client: TestClient, message: str, **extra: Any) -> dict[str, Any]:
    params = {"kb": extra.pop("kb")} if "kb" in extra else {}
    response = client.post("/v1/chat", json={"message": message, **extra}, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_chat_and_follow_ups_cite_only_the_base_s_items(
    kb_client: TestClient, default_texts: Texts, retail_texts: Texts
) -> None:
    first = _chat(kb_client, "A shopper wants to return an item she bought last week. What do I do?", kb="retail")
    assert first["status"] == "answered" and first["citations"]
    assert all(retail_texts.owns(c) and not default_texts.owns(c) for c in first["citations"])
    assert any(c["title"] == "Refund with a receipt within 30 days" for c in first["citations"])
    follow = _chat(kb_client, "and if she lost the receipt?", kb="retail", conversation_id=first["conversation_id"])
    assert follow["conversation_id"] == first["conversation_id"]
    assert all(retail_texts.owns(c) for c in follow["citations"])
    for answer in (first["answer"], follow["answer"]):
        assert not any(title in answer for title in default_texts.titles)

    price = _chat(kb_client, "The customer says we are 20% more expensive than the competitor")
    assert price["citations"] and all(default_texts.owns(c) for c in price["citations"])
    assert not any(title in price["answer"] for title in retail_texts.titles)

    # A conversation belongs to its base: a follow-up sent to the other base finds nothing to follow.
    crossed = kb_client.post("/v1/chat", json={"message": "and then?", "conversation_id": first["conversation_id"]})
    assert crossed.status_code == 404
    assert crossed.json()["detail"].startswith(f"Conversation {first['conversation_id']!r} not found")
    crossed = kb_client.post("/v1/chat", params=RETAIL,
                             json={"message": "and then?", "conversation_id": price["conversation_id"]})
    assert crossed.status_code == 404


def test_feedback_and_the_unanswered_report_stay_in_their_base(kb_client: TestClient) -> None:
    retail = _chat(kb_client, "Can a shopper pay with a gift card and a credit card together?", kb="retail")
    default = _chat(kb_client, "Should I send the proposal before the demo?")
    wrong_base = kb_client.post(f"/v1/chat/{retail['message_id']}/feedback", json={"rating": "down"})
    assert wrong_base.status_code == 404
    for answer, params in ((retail, RETAIL), (default, {})):
        ok = kb_client.post(f"/v1/chat/{answer['message_id']}/feedback", params=params,
                            json={"rating": "down", "comment": "not what I asked"})
        assert ok.status_code == 200
    retail_report = kb_client.get("/v1/reports/unanswered", params=RETAIL, headers=TRAINER).json()["questions"]
    default_report = kb_client.get("/v1/reports/unanswered", headers=TRAINER).json()["questions"]
    retail_questions = {q["question"] for q in retail_report}
    default_questions = {q["question"] for q in default_report}
    assert "Can a shopper pay with a gift card and a credit card together?" in retail_questions
    assert "Should I send the proposal before the demo?" in default_questions
    assert not retail_questions & default_questions


def _rubric_ids(rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(r["id"], r["title"]) for r in rows}


def test_role_play_is_played_and_scored_against_the_base_s_standards(
    kb_client: TestClient, default_texts: Texts, retail_texts: Texts
) -> None:
    retail_scenarios = kb_client.get("/v1/roleplay/scenarios", params=RETAIL).json()["scenarios"]
    assert [s["id"] for s in retail_scenarios] == [RETAIL_SCENARIO]
    assert retail_scenarios[0]["trains"] == RETAIL_TRAINS
    default_ids = [s["id"] for s in kb_client.get("/v1/roleplay/scenarios").json()["scenarios"]]
    assert "price-objection" in default_ids and RETAIL_SCENARIO not in default_ids
    assert kb_client.post("/v1/roleplay/sessions", json={"scenario": "price-objection", "lang": "en"},
                          params=RETAIL).status_code == 404

    start = kb_client.post("/v1/roleplay/sessions", params=RETAIL,
                           json={"scenario": RETAIL_SCENARIO, "lang": "en", "rep": "rita"})
    assert start.status_code == 201
    sid = start.json()["session_id"]
    feedback: list[dict[str, Any]] = []
    for message in ("What is really behind the concern about the price?",
                    "Fine, I'll just take 20% off the price right now.",
                    "You're wrong, our price is simply the best and you should know that."):
        turn = kb_client.post(f"/v1/roleplay/sessions/{sid}/turns", params=RETAIL, json={"message": message})
        assert turn.status_code == 200, turn.text
        feedback += turn.json()["feedback"]
        if turn.json()["done"]:
            break
    assert feedback, "the discount and the argument are judged against the retail standards"
    assert all(retail_texts.owns(f) and not default_texts.owns(f) for f in feedback)
    assert {f["id"] for f in feedback} <= set(RETAIL_MAP_TARGETS)

    # The session is the retail base's: the default base does not know it.
    assert kb_client.get(f"/v1/roleplay/sessions/{sid}").status_code == 404
    assert kb_client.post(f"/v1/roleplay/sessions/{sid}/turns", json={"message": "hello"}).status_code == 404
    card = kb_client.post(f"/v1/roleplay/sessions/{sid}/end", params=RETAIL).json()
    assert card["rubric"] and all(retail_texts.owns(r) and not default_texts.owns(r) for r in card["rubric"])
    assert not any(title in " ".join(card["strengths"] + card["improvements"]) for title in default_texts.titles)

    mine = kb_client.get("/v1/trainer/sessions", params=RETAIL, headers=TRAINER).json()["sessions"]
    assert [s["session_id"] for s in mine] == [sid]
    others = kb_client.get("/v1/trainer/sessions", headers=TRAINER).json()["sessions"]
    assert sid not in {s["session_id"] for s in others}
    summary = kb_client.get("/v1/trainer/reps/rita/summary", params=RETAIL, headers=TRAINER).json()
    assert summary["sessions"] == 1
    assert all(retail_texts.owns(r) for r in summary["most_violated"] + summary["most_followed"])
    assert kb_client.get("/v1/trainer/reps/rita/summary", headers=TRAINER).status_code == 404


RETAIL_MAP_TARGETS = ("s2.caution.1", "s1.standard.1", "s3.caution.1", "s1.standard.2")


def test_the_admin_api_maps_users_and_slack_to_bases(kb_client: TestClient) -> None:
    assert kb_client.get("/v1/kb").status_code == 401
    listed = kb_client.get("/v1/kb", headers=TRAINER).json()
    assert [b["name"] for b in listed["knowledge_bases"]] == ["default", "retail"]
    assert all(b["build"] for b in listed["knowledge_bases"])
    put = kb_client.put("/v1/kb/mappings/slack_channel/T0001:C0STORE", json={"kb": "retail"}, headers=TRAINER)
    assert put.status_code == 200
    assert kb_client.app.state.container.bases.for_slack("T0001", "C0STORE") == "retail"  # type: ignore[attr-defined]
    assert kb_client.app.state.container.bases.for_slack("T0001", "C0OTHER") == "default"  # type: ignore[attr-defined]
    bad = kb_client.put("/v1/kb/mappings/user/amy", json={"kb": "nope"}, headers=TRAINER)
    assert bad.status_code == 400 and bad.json()["detail"].startswith("knowledge base 'nope' not found")
    kind = kb_client.put("/v1/kb/mappings/team/amy", json={"kb": "retail"}, headers=TRAINER)
    assert kind.status_code == 400
    assert kind.json()["detail"] == "mapping kind must be one of slack_team, slack_channel, user, not 'team'"
    listed = kb_client.get("/v1/kb", headers=TRAINER).json()["knowledge_bases"]
    assert listed[1]["mappings"] == [{"kind": "slack_channel", "key": "T0001:C0STORE"}]
    assert kb_client.delete("/v1/kb/mappings/slack_channel/T0001:C0STORE", headers=TRAINER).status_code == 200
    assert kb_client.delete("/v1/kb/mappings/slack_channel/T0001:C0STORE", headers=TRAINER).status_code == 404

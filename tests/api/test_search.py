import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app


@pytest.mark.parametrize(
    "query", ["客户嫌贵怎么办", "How do I handle a price objection?", "客户说我们比竞品贵20%，要不要打折？"]
)
def test_price_questions_find_the_discount_caution_first_or_second(client, query):
    response = client.post("/v1/search", json={"query": query, "k": 5})
    assert response.status_code == 200
    ids = [hit["id"] for hit in response.json()["hits"]]
    assert "s4.caution.1" in ids[:2]


def test_hits_come_in_the_askers_language_with_all_fields(client):
    hits = client.post("/v1/search", json={"query": "客户嫌贵怎么办", "k": 3}).json()["hits"]
    assert len(hits) == 3
    assert all(h["lang"] == "zh" for h in hits)
    assert set(hits[0]) == {"id", "stage", "kind", "title", "text", "lang", "score"}
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert len({h["id"] for h in hits}) == 3  # both languages of an item collapse to one hit


def test_lang_overrides_the_query_language(client):
    hits = client.post("/v1/search", json={"query": "客户嫌贵怎么办", "lang": "en"}).json()["hits"]
    assert all(h["lang"] == "en" for h in hits)
    price = next(h for h in hits if h["id"] == "s4.caution.1")
    assert price["title"] == "Don't cut the price easily"


def test_stage_filter(client):
    hits = client.post("/v1/search", json={"query": "How do I handle a price objection?", "stage": 2}).json()["hits"]
    assert hits and all(h["stage"] == 2 for h in hits)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"query": ""}, "Value error, query must not be empty"),
        ({"query": "   "}, "Value error, query must not be empty"),
        ({"query": "x" * 2001}, "String should have at most 2000 characters"),
        ({"query": "price", "k": 0}, "Input should be greater than or equal to 1"),
        ({"query": "price", "lang": "fr"}, "Input should be 'zh' or 'en'"),
        ({"query": "price", "stage": 7}, "Input should be less than or equal to 6"),
        ({}, "Field required"),
    ],
)
def test_bad_search_input_gets_422_saying_why(client, body, message):
    response = client.post("/v1/search", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == message


def test_oversized_body_gets_413(client):
    response = client.post("/v1/search", content=b'{"query": "' + b"x" * 70000 + b'"}',
                           headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["detail"] == "request body is larger than 65536 bytes; send a shorter message"


def test_knowledge_items_browse_both_languages(client):
    items = client.get("/v1/knowledge/items").json()["items"]
    assert len(items) == 55
    assert items[0]["id"] == "s1.intro" and items[-1]["id"] == "s6.caution.4"
    one = client.get("/v1/knowledge/items/s4.caution.1").json()
    assert one["langs"]["zh"]["title"] == "不轻易降价"
    assert one["langs"]["en"]["title"] == "Don't cut the price easily"


def test_unknown_item_is_404_with_a_helpful_message(client):
    response = client.get("/v1/knowledge/items/s9.caution.9")
    assert response.status_code == 404
    assert response.json()["detail"] == (
        "Item 's9.caution.9' not found; ids look like 's4.caution.1' or 's2.intro', see GET /v1/knowledge/items"
    )


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["index"]["chunks"] == 110


def test_without_an_index_readyz_and_search_say_how_to_fix_it(tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path / "empty"))) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "run `coach ingest` first" in ready.json()["index"]["error"]
        response = client.post("/v1/search", json={"query": "price"})
        assert response.status_code == 503
        assert response.json()["detail"].endswith("run `coach ingest` first")

"""Hostile input: bodies over the limit however they are framed, and validation errors that never echo much."""

from __future__ import annotations

from collections.abc import Iterator

LIMIT_DETAIL = "request body is larger than 65536 bytes; send a shorter message"


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    yield b'{"query": "'
    for _ in range(total // size):
        yield b"x" * size
    yield b'"}'


def test_a_chunked_body_over_the_limit_gets_413(client):
    # A generator body goes out with Transfer-Encoding: chunked and no Content-Length.
    response = client.post("/v1/search", content=_chunks(10 * 1024 * 1024), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["detail"] == LIMIT_DETAIL
    assert len(response.content) < 200


def test_a_chunked_body_under_the_limit_is_served(client):
    body = iter([b'{"query": "How do I handle ', b'a price objection?", "k": 1}'])
    response = client.post("/v1/search", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert len(response.json()["hits"]) == 1


def test_a_declared_length_over_the_limit_gets_413_on_every_route(client):
    for path in ("/v1/chat", "/v1/roleplay/sessions", "/v1/chat/msg_x/feedback"):
        response = client.post(path, content=b"{" + b" " * 70000 + b"}", headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert response.json()["detail"] == LIMIT_DETAIL


def test_validation_errors_quote_at_most_a_short_excerpt(client):
    response = client.post("/v1/chat", json={"message": "y" * 4001})
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["msg"] == "String should have at most 4000 characters"
    assert error["input"] == "y" * 100 + "…"
    big = client.post("/v1/search", json={"query": {"nested": "z" * 5000}})
    assert big.status_code == 422
    assert len(big.content) < 600

"""Hostile input: bodies over the limit however they are framed, and validation errors that never echo much."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

LIMIT_DETAIL = "request body is larger than 65536 bytes; send a shorter message"


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    yield b'{"query": "'
    for _ in range(total // size):
        yield b"x" * size
    yield b'"}'


def test_a_chunked_body_over_the_limit_gets_413(client):
    # A generator body goes out with Transfer-Encoding: chunked and no Content-Length.
    response = client.post("/v1/search", content=_chunks(10 * 1024 * 1024),
                           headers={"content-type": "application/json"})
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


POST_ROUTES = ["/v1/search", "/v1/chat", "/v1/chat/stream", "/v1/chat/msg_x/feedback", "/v1/roleplay/sessions",
               "/v1/roleplay/sessions/abc/turns"]
FINITE = "send a finite number"


@pytest.mark.parametrize("path", POST_ROUTES)
@pytest.mark.parametrize(
    ("raw", "loc", "msg"),
    [
        ('{"message": NaN, "query": NaN}', ["body"], f"NaN is not valid JSON; {FINITE}"),
        ('{"k": Infinity}', ["body"], f"Infinity is not valid JSON; {FINITE}"),
        ('{"extra": [-Infinity]}', ["body"], f"-Infinity is not valid JSON; {FINITE}"),
        ('{"k": 1e999}', ["body"], f"the number 1e999 is too large; {FINITE}"),
        ('{"k": 123456789012345678901234567890}', ["body"],
         "the number 12345678901234567890… has too many digits; send at most 18"),
        ('{"message": "hi \\ud800", "query": "hi \\ud800"}', ["body", "query"],
         "text must be valid Unicode; it contains a lone surrogate such as \\ud800"),
        ('{"query": "ok", "message": "a\\u0000b"}', ["body", "message"],
         "text must not contain NUL characters (\\u0000); remove them"),
        ('{"scenario": "price-objection", "lang": "en", "rep": "x\\u0000"}', ["body", "rep"],
         "text must not contain NUL characters (\\u0000); remove them"),
        ("[" * 30_000 + "]" * 30_000, ["body"], "JSON is nested too deeply"),
    ],
)
def test_json_that_cannot_be_stored_or_encoded_gets_422_saying_what_to_send(client, path, raw, loc, msg):
    response = client.post(path, content=raw.encode(), headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"] == [{"type": "json_invalid", "loc": loc, "msg": msg, "input": None}]


def test_a_raw_utf8_encoded_surrogate_is_refused_too(client):
    body = b'{"message": "hi \xed\xa0\x80"}'
    response = client.post("/v1/chat", content=body, headers={"content-type": "application/json"})
    assert response.status_code in (400, 422)
    assert response.status_code != 500

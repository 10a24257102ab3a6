"""The OpenAPI document declares what the server does: error statuses, minimum lengths, SSE and CSV."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.roleplay.conftest import roleplay_settings


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict:
    settings = roleplay_settings(tmp_path_factory.mktemp("openapi") / "data", trainer_routes=True,
                                 trainer_tokens="t")
    with TestClient(create_app(settings)) as client:
        return client.get("/openapi.json").json()


@pytest.mark.parametrize(
    ("method", "path", "codes"),
    [
        ("post", "/v1/search", {"400", "413", "422", "429", "503"}),
        ("post", "/v1/chat", {"400", "413", "422", "429", "503"}),
        ("post", "/v1/chat/stream", {"400", "413", "422", "429", "503"}),
        ("post", "/v1/chat/{message_id}/feedback", {"400", "404", "413", "422", "429"}),
        ("get", "/v1/knowledge/items/{item_id}", {"400", "404", "429", "503"}),
        ("post", "/v1/roleplay/sessions", {"400", "404", "413", "422", "429"}),
        ("post", "/v1/roleplay/sessions/{session_id}/turns", {"400", "404", "409", "413", "422", "429"}),
        ("post", "/v1/roleplay/sessions/{session_id}/end", {"400", "404", "409", "429"}),
        ("get", "/v1/roleplay/sessions/{session_id}", {"400", "404", "429"}),
        ("get", "/v1/trainer/sessions", {"400", "401", "429"}),
        ("get", "/v1/trainer/reps/{rep}/summary", {"400", "401", "404", "429"}),
        ("get", "/v1/reports/unanswered", {"400", "401", "429"}),
    ],
)
def test_routes_declare_the_errors_they_return(spec, method, path, codes):
    responses = spec["paths"][path][method]["responses"]
    assert codes <= set(responses)
    for code in codes - {"422"}:
        detail = responses[code]["content"]["application/json"]["schema"]["properties"]["detail"]
        assert detail == {"type": "string"}
    if "429" in codes:
        assert "Retry-After" in responses["429"]["headers"]


def test_minimum_lengths_are_declared(spec):
    schemas = spec["components"]["schemas"]
    assert schemas["ChatRequest"]["properties"]["message"]["minLength"] == 1
    assert schemas["ChatRequest"]["properties"]["message"]["maxLength"] == 4000
    assert schemas["SearchRequest"]["properties"]["query"]["minLength"] == 1
    assert schemas["TurnRequest"]["properties"]["message"]["minLength"] == 1
    assert schemas["StartRequest"]["properties"]["scenario"]["minLength"] == 1


def test_streaming_and_csv_content_types_are_declared(spec):
    assert "text/event-stream" in spec["paths"]["/v1/chat"]["post"]["responses"]["200"]["content"]
    assert "application/json" in spec["paths"]["/v1/chat"]["post"]["responses"]["200"]["content"]
    assert set(spec["paths"]["/v1/chat/stream"]["post"]["responses"]["200"]["content"]) == {"text/event-stream"}
    assert set(spec["paths"]["/v1/trainer/sessions.csv"]["get"]["responses"]["200"]["content"]) == {"text/csv"}

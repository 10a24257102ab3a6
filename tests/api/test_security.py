"""Security headers on every response, and a content security policy under which /docs still works."""

from __future__ import annotations

import pytest

HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/healthz", {}, 200),
        ("GET", "/v1/knowledge/items/s9.nope", {}, 404),
        ("POST", "/v1/search", {"json": {"query": ""}}, 422),
        ("POST", "/v1/search", {"content": b"x" * 70000}, 413),
        ("GET", "/openapi.json", {}, 200),
    ],
)
def test_every_response_carries_the_security_headers(client, method, path, kwargs, status):
    response = client.request(method, path, **kwargs)
    assert response.status_code == status
    for name, value in HEADERS.items():
        assert response.headers[name] == value
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'; frame-ancestors 'none'")


def test_the_docs_page_is_allowed_its_assets(client):
    response = client.get("/docs")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self' 'unsafe-inline'" in csp and "frame-ancestors 'none'" in csp
    assert "http" not in csp  # nothing outside the service: the docs assets are vendored
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "/static/vendor/swagger-ui" in response.text and "cdn." not in response.text

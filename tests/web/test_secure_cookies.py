"""COACH_COOKIE_SECURE: the web app's cookies are Secure over https (directly or behind a trusted proxy), or as set."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.main import create_app
from tests.web.conftest import web_settings


def _cookies(client: TestClient, **headers: str) -> list[str]:
    """Open a page (the session cookie carries its CSRF token) and switch the language; return the Set-Cookies."""
    page = client.get("/hello", headers=headers)
    lang = client.get("/lang/zh", headers=headers, follow_redirects=False)
    found = page.headers.get_list("set-cookie") + lang.headers.get_list("set-cookie")
    assert any(c.startswith("coach_session=") for c in found) and any(c.startswith("coach_lang=") for c in found)
    return found


@pytest.mark.parametrize(
    ("mode", "base", "secure"),
    [("auto", "http://testserver", False), ("auto", "https://testserver", True), ("true", "http://testserver", True),
     ("false", "https://testserver", False)],
)
def test_cookies_are_secure_over_https_or_as_configured(tmp_path, mode, base, secure):
    app = create_app(web_settings(tmp_path, None, cookie_secure=mode))
    with TestClient(app, base_url=base, headers={"Accept": "text/html"}) as client:
        for cookie in _cookies(client):
            assert ("; secure" in cookie.lower()) is secure, cookie
            assert cookie.lower().count("secure") <= 1 and "httponly" in cookie.lower()


def test_behind_a_trusted_proxy_the_forwarded_https_counts(tmp_path):
    # What uvicorn does for a proxy listed in FORWARDED_ALLOW_IPS: X-Forwarded-Proto sets the scheme.
    app = ProxyHeadersMiddleware(create_app(web_settings(tmp_path, None)), trusted_hosts="*")
    with TestClient(app, headers={"Accept": "text/html"}) as client:  # type: ignore[arg-type]
        assert all("; secure" in c.lower() for c in _cookies(client, **{"X-Forwarded-Proto": "https"}))
        assert not any("; secure" in c.lower() for c in _cookies(client))


def test_an_unknown_mode_stops_the_service(tmp_path):
    with pytest.raises(ValueError, match="cookie_secure"):
        web_settings(tmp_path, None, cookie_secure="sometimes")

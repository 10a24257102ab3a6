"""Who is asking: a rep (name or rep token) and a trainer (trainer token), both in the signed session cookie; CSRF."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from app.errors import ForbiddenError, SignInRequiredError

CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
MAX_NAME = 64


def csrf_token(request: Request) -> str:
    """Return this browser session's CSRF token, creating it on first use."""
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session[CSRF_FIELD] = token
    return token


async def verify_csrf(request: Request) -> None:
    """Refuse a POST whose form field or header does not carry the session's CSRF token."""
    expected = request.session.get(CSRF_FIELD)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not isinstance(expected, str) or sent is None or not secrets.compare_digest(sent.encode(), expected.encode()):
        raise ForbiddenError("the form has expired or did not come from this site; reload the page and try again")


def _next(request: Request) -> str:
    return quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="/?=&")


def current_rep(request: Request) -> str:
    """Return the signed-in rep's name, or send the browser to the sign-in page."""
    rep = request.session.get("rep")
    if not isinstance(rep, str) or not rep:
        raise SignInRequiredError("say who you are first", location=f"/hello?next={_next(request)}")
    return rep


def current_trainer(request: Request) -> str:
    """Return "trainer" for a signed-in trainer, or send the browser to the trainer sign-in page."""
    if request.session.get("trainer") is not True:
        raise SignInRequiredError("trainer sign-in required", location=f"/trainer/sign-in?next={_next(request)}")
    return "trainer"


def check_token(sent: str, tokens: list[str]) -> bool:
    """Return whether `sent` is one of `tokens`, comparing against all of them in constant time."""
    matched = [secrets.compare_digest(sent.encode(), t.encode()) for t in tokens]
    return any(matched)


def safe_next(target: str | None, default: str) -> str:
    """Return a same-site path to go back to (never another host)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


RepDep = Annotated[str, Depends(current_rep)]
TrainerDep = Annotated[str, Depends(current_trainer)]
CSRF = Depends(verify_csrf)

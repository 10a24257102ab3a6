"""Which knowledge base a request is served from: the `kb` query parameter or the X-Coach-KB header."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request

from app.knowledge.bases import DEFAULT

KB_PATTERN = r"^[A-Za-z0-9_-]{1,60}$"


def get_kb(
    request: Request,
    kb: Annotated[str | None, Query(pattern=KB_PATTERN, description="The knowledge base to use (default: "
                                    "`default`); the X-Coach-KB header does the same.")] = None,
    x_coach_kb: Annotated[str | None, Header(pattern=KB_PATTERN, include_in_schema=False)] = None,
) -> str:
    """Return the knowledge base the caller chose (query `kb` or header X-Coach-KB), or 400 if it is unknown."""
    name = kb or x_coach_kb or DEFAULT
    if name != DEFAULT:
        request.app.state.container.bases.get(name)  # 400 naming the known bases
    return name


KbDep = Annotated[str, Depends(get_kb)]

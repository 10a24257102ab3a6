"""Request bodies are parsed as strict JSON: no NaN or Infinity, finite numbers, valid Unicode, no NUL characters.

Python's json module accepts NaN, Infinity and 1e999 (as inf) and decodes "\\ud800" to a lone surrogate; none of
them can be stored or encoded back, so they are refused here with a 422 that says what to send instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response


class _Refused(ValueError):
    def __init__(self, message: str, loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message, self.loc = message, loc


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not valid JSON; send a finite number")


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _Refused(f"the number {text[:20]} is too large; send a finite number")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 18:
        raise _Refused(f"the number {text[:20]}… has too many digits; send at most 18")
    return int(text)


def _check_text(value: Any) -> None:
    """Refuse a lone surrogate or a NUL anywhere in the parsed body (keys included), naming where."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        loc, item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                _check_string(key, loc)
                stack.append(((*loc, key), child))
        elif isinstance(item, list):
            stack.extend(((*loc, i), child) for i, child in enumerate(item))
        elif isinstance(item, str):
            _check_string(item, loc)


def _check_string(text: str, loc: tuple[str | int, ...]) -> None:
    if "\x00" in text:
        raise _Refused("text must not contain NUL characters (\\u0000); remove them", loc)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _Refused("text must be valid Unicode; it contains a lone surrogate such as \\ud800", loc) from exc


def parse_strict(body: bytes) -> Any:
    """Parse a JSON body strictly; raise RequestValidationError saying what to fix, or JSONDecodeError."""
    try:
        value = json.loads(body, parse_constant=_constant, parse_float=_float, parse_int=_int)
        _check_text(value)
    except _Refused as exc:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body", *exc.loc), "msg": exc.message, "input": None}]
        ) from exc
    except RecursionError as exc:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": "JSON is nested too deeply", "input": None}]
        ) from exc
    return value


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # FastAPI reads a body without a content type as JSON
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class StrictJSONRoute(APIRoute):
    """An APIRoute that parses JSON bodies with parse_strict before FastAPI validates them."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            if self.body_field is not None and _is_json(request.headers.get("content-type")):
                body = await request.body()
                if body:
                    try:
                        request._json = parse_strict(body)  # FastAPI's request.json() returns this
                    except (json.JSONDecodeError, UnicodeDecodeError):
                        pass  # malformed JSON: FastAPI's own 422 (or 400) says where
            return await handler(request)

        return strict_handler

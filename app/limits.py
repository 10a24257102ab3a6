"""Input limits shared by the HTTP API, the CLI and Slack."""

from typing import Annotated

from pydantic import AfterValidator, Field

MAX_QUERY_CHARS = 2000
MAX_MESSAGE_CHARS = 4000



def _non_blank(name: str):  # type: ignore[no-untyped-def]
    def strip_non_blank(value: str) -> str:
        if not value.strip():
            raise ValueError(f"{name} must not be empty")
        return value.strip()

    return strip_non_blank


# Request text: within the limit, not blank, stripped.
QueryText = Annotated[str, Field(max_length=MAX_QUERY_CHARS), AfterValidator(_non_blank("query"))]
MessageText = Annotated[str, Field(max_length=MAX_MESSAGE_CHARS), AfterValidator(_non_blank("message"))]

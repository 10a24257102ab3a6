"""Input limits shared by the HTTP API, the CLI and Slack."""

from typing import Annotated

from pydantic import AfterValidator, Field

MAX_QUERY_CHARS = 2000
MAX_MESSAGE_CHARS = 4000
# Retrieval (embedding, BM25 tokens) and technique detection read only the start of a text, about this many model
# tokens' worth (a Chinese character is about one token, an English one about a quarter: 64 Chinese characters or
# 256 English ones), so that the work per request stays about the same however long the message is. The longest
# question in evals/ is 187 English characters.
MAX_ANALYSED_TOKENS = 64


def _non_blank(name: str):  # type: ignore[no-untyped-def]
    def strip_non_blank(value: str) -> str:
        if not value.strip():
            raise ValueError(f"{name} must not be empty")
        return value.strip()

    return strip_non_blank


# Request text: within the limit, not blank, stripped.
# The schema says what the validator enforces: at least one character that is not white space.
NON_BLANK = {"minLength": 1, "pattern": r"\S"}
QueryText = Annotated[str, Field(max_length=MAX_QUERY_CHARS, json_schema_extra=NON_BLANK),
                      AfterValidator(_non_blank("query"))]
MessageText = Annotated[str, Field(max_length=MAX_MESSAGE_CHARS, json_schema_extra=NON_BLANK),
                        AfterValidator(_non_blank("message"))]

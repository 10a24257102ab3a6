"""Chat: POST /v1/chat (JSON or server-sent events) and feedback on answers."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from app.api.deps import get_container
from app.api.kb import KbDep
from app.api.strict import StrictJSONRoute
from app.coaching.service import ChatService
from app.errors import error_responses
from app.limits import MessageText

router = APIRouter(tags=["chat"], route_class=StrictJSONRoute, responses=error_responses(400, 413, 429))
EVENT_STREAM = {
    "description": "With \"stream\": true: server-sent events, `delta` events with text, then `done`",
    "content": {"text/event-stream": {"schema": {"type": "string"},
                                      "example": "event: delta\ndata: {\"text\": \"...\"}\n\n"}},
}


class EventStream(StreamingResponse):
    """Server-sent events."""

    media_type = "text/event-stream"



def get_chat(request: Request) -> ChatService:
    """Return the chat service built in the lifespan."""
    service: ChatService = get_container(request).chat
    return service


ChatDep = Annotated[ChatService, Depends(get_chat)]


class ChatRequest(BaseModel):
    """A rep's message."""

    message: MessageText
    conversation_id: str | None = Field(default=None, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")
    lang: Literal["zh", "en"] | None = None
    stream: bool = False


class CitationOut(BaseModel):
    """A standard the answer rests on."""

    id: str
    title: str
    text: str


class ChatResponse(BaseModel):
    """The coach's answer."""

    answer: str
    citations: list[CitationOut]
    language: Literal["zh", "en"]
    status: Literal["answered", "out_of_scope", "refused"]
    scope: Literal["sales", "not_sales", "not_covered", "refused"] = Field(
        description="How the coach read the question: sales coaching, not about selling, a sales question the "
                    "standards do not cover (it lands in the unanswered report), or refused.")
    conversation_id: str
    message_id: str
    degraded: bool


class FeedbackRequest(BaseModel):
    """A rating of one answer."""

    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=2000)


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _stream(result: dict[str, Any]) -> AsyncIterator[str]:
    # Deltas are whole lines or short phrases, so a citation tag never splits across events.
    for piece in re.findall(r"[^\n]*\n|[^\n]+$", result["answer"]):
        yield _sse("delta", {"text": piece})
        await asyncio.sleep(0)
    yield _sse("done", {k: v for k, v in result.items() if k != "answer"})


@router.post("/v1/chat", response_model=ChatResponse, responses={**error_responses(503), 200: EVENT_STREAM})
async def chat(body: ChatRequest, service: ChatDep, kb: KbDep) -> Any:
    """Answer a rep's question from the standards; with "stream": true, as server-sent events."""
    result = await asyncio.to_thread(service.answer, body.message, body.conversation_id, body.lang, kb=kb)
    if body.stream:
        return StreamingResponse(_stream(result.public()), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})
    return result.public()


@router.post("/v1/chat/stream", response_class=EventStream, responses={**error_responses(503), 200: EVENT_STREAM})
async def chat_stream(body: ChatRequest, service: ChatDep, kb: KbDep) -> StreamingResponse:
    """Answer as server-sent events: `delta` events with text, then `done` with citations and status."""
    result = await asyncio.to_thread(service.answer, body.message, body.conversation_id, body.lang, kb=kb)
    return StreamingResponse(_stream(result.public()), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


@router.post("/v1/chat/{message_id}/feedback", responses=error_responses(404))
def feedback(message_id: str, body: FeedbackRequest, service: ChatDep, kb: KbDep) -> dict[str, str]:
    """Record 👍/👎 (and an optional comment) on an answer."""
    service.feedback(message_id, body.rating, body.comment, kb=kb)
    return {"status": "recorded"}

"""Chat: POST /v1/chat (JSON or server-sent events) and feedback on answers."""

from __future__ import annotations

import asyncio
import json
import threading
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
    "description": "With \"stream\": true: server-sent events: `start` at once, `delta` events with text as it is "
                   "written, `replace` (the text to show instead) when the checks change the answer, then `done`",
    # Each event as a parsed server-sent event: its name and its data (a JSON object); schema-based testers check
    # every event against it.
    "content": {"text/event-stream": {"schema": {
        "type": "object", "required": ["event", "data"],
        "properties": {"event": {"type": "string", "enum": ["start", "delta", "replace", "done", "error"]},
                       "data": {"type": "string", "contentMediaType": "application/json"}},
    },
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


async def _stream(service: ChatService, body: ChatRequest, request: Request, kb: str) -> AsyncIterator[str]:
    # Headers and a first event go out at once; the answer is produced in a worker thread and its events relayed.
    # When the client goes away (or the stream is closed) the cancel event hangs up on the model server.
    yield _sse("start", {"conversation_id": body.conversation_id})
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()
    cancel = threading.Event()

    def produce() -> None:
        try:
            for event in service.answer_stream(body.message, body.conversation_id, body.lang, cancel=cancel, kb=kb):
                loop.call_soon_threadsafe(queue.put_nowait, event)
        except Exception as exc:  # reported as an event: the status line has already been sent
            loop.call_soon_threadsafe(queue.put_nowait, ("error", {"detail": _stream_error(exc)}))
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    worker = loop.run_in_executor(None, produce)
    try:
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), timeout=0.25)
            except TimeoutError:
                if await request.is_disconnected():
                    cancel.set()
                    break
                continue
            if event is None:
                break
            yield _sse(*event)
    finally:
        cancel.set()  # harmless once finished; hangs up on the model when the client left mid-answer
        await asyncio.shield(worker)


def _stream_error(exc: Exception) -> str:
    from app.errors import CoachError

    return exc.message if isinstance(exc, CoachError) else "the answer failed; please try again"


async def _answer(service: ChatService, body: ChatRequest, request: Request, kb: str) -> Any:
    """Answer in a worker thread; a client that disconnects cancels the model request."""
    cancel = threading.Event()
    task = asyncio.ensure_future(asyncio.to_thread(
        service.answer, body.message, body.conversation_id, body.lang, cancel=cancel, kb=kb))
    while not task.done():
        await asyncio.wait({task}, timeout=0.25)
        if not task.done() and await request.is_disconnected():
            cancel.set()
    return task.result()


def _event_stream(service: ChatService, body: ChatRequest, request: Request, kb: str) -> StreamingResponse:
    service.ensure_ready(kb)
    return StreamingResponse(_stream(service, body, request, kb), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/v1/chat", response_model=ChatResponse, responses={**error_responses(503), 200: EVENT_STREAM})
async def chat(body: ChatRequest, service: ChatDep, kb: KbDep, request: Request) -> Any:
    """Answer a rep's question from the standards; with "stream": true, as server-sent events."""
    if body.stream:
        return _event_stream(service, body, request, kb)
    result = await _answer(service, body, request, kb)
    return result.public()


@router.post("/v1/chat/stream", response_class=EventStream, responses={**error_responses(503), 200: EVENT_STREAM})
async def chat_stream(body: ChatRequest, service: ChatDep, kb: KbDep, request: Request) -> StreamingResponse:
    """Answer as server-sent events: `start`, `delta` events with text, `replace` if the checks change the
    answer, then `done` with citations and status."""
    return _event_stream(service, body, request, kb)


@router.post("/v1/chat/{message_id}/feedback", responses=error_responses(404))
def feedback(message_id: str, body: FeedbackRequest, service: ChatDep, kb: KbDep) -> dict[str, str]:
    """Record 👍/👎 (and an optional comment) on an answer."""
    service.feedback(message_id, body.rating, body.comment, kb=kb)
    return {"status": "recorded"}

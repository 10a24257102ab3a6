"""Pages for reps: say who you are, ask the coach, browse the standards, practise, see your attempts."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from markupsafe import escape

from app.api.deps import ContainerDep
from app.api.knowledge import list_items
from app.errors import BadRequestError, NotFoundError
from app.limits import MAX_MESSAGE_CHARS
from app.web.auth import CSRF, MAX_NAME, RepDep, check_token, safe_next
from app.web.i18n import LANG_COOKIE, LANGS
from app.web.render import answer_html, is_htmx, render, render_fragment
from app.web.trainer import _standard_titles

router = APIRouter(include_in_schema=False)
HINTS_COOKIE = "coach_hints"
Message = Annotated[str, Form(max_length=MAX_MESSAGE_CHARS)]
CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# -- identity and language ------------------------------------------------------------------------------------


@router.get("/")
def home(request: Request) -> RedirectResponse:
    """Send a rep to the chat, or to say who they are."""
    return _see_other("/chat" if request.session.get("rep") else "/hello")


@router.get("/hello")
def hello(request: Request, container: ContainerDep, next: str | None = None) -> Response:
    """Ask the rep's name once (or their rep token when COACH_REP_TOKENS is set)."""
    return render(request, "hello.html", next=safe_next(next, "/chat"),
                  use_token=bool(container.settings.rep_token_map), error=None)


@router.post("/hello", dependencies=[CSRF])
def hello_submit(
    request: Request, container: ContainerDep, name: Annotated[str, Form(max_length=MAX_NAME)] = "",
    token: Annotated[str, Form(max_length=500)] = "", next: Annotated[str, Form()] = "/chat",
) -> Response:
    """Remember who the rep is in the signed session cookie."""
    tokens = container.settings.rep_token_map
    if tokens:
        # Every token is compared, so the time taken does not tell which one nearly matched.
        matches = [who for known, who in tokens.items() if check_token(token.strip(), [known])]
        rep = matches[0] if matches else None
    else:
        rep = " ".join(name.split()) or None
    if not rep:
        key = "hello.bad_token" if tokens else "hello.need_name"
        return render(request, "hello.html", status_code=400, next=safe_next(next, "/chat"),
                      use_token=bool(tokens), error=key)
    request.session["rep"] = rep
    return _see_other(safe_next(next, "/chat"))


@router.post("/bye", dependencies=[CSRF])
def bye(request: Request) -> RedirectResponse:
    """Forget the rep (and any trainer sign-in) on this browser."""
    request.session.clear()
    return _see_other("/hello")


@router.get("/lang/{code}")
def set_language(code: str, next: str | None = None) -> RedirectResponse:
    """Switch the page language (a preference cookie) and go back."""
    if code not in LANGS:
        raise NotFoundError(f"language {code!r} is not available; use one of {', '.join(LANGS)}")
    response = _see_other(safe_next(next, "/"))
    response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="lax", httponly=True)
    return response


# -- chat -----------------------------------------------------------------------------------------------------


def _kb(container: Any, rep: str) -> str:
    """Return the knowledge base this rep is served (`default` unless mapped with `coach kb map user`)."""
    kb: str = container.bases.for_user(rep)
    return kb


def _owned_conversation(container: Any, conversation_id: str, rep: str) -> dict[str, Any]:
    if not CONVERSATION_ID.match(conversation_id):
        raise NotFoundError(f"Conversation {conversation_id!r} not found")
    transcript: dict[str, Any] = container.chat.transcript(conversation_id, kb=_kb(container, rep))
    if transcript["user"] != rep or transcript["channel"] != "web":
        raise NotFoundError(f"Conversation {conversation_id!r} not found; your conversations are listed on /chat")
    return transcript


@router.get("/chat")
def chat_new(request: Request, rep: RepDep, container: ContainerDep, q: str = "") -> Response:
    """A new conversation (q prefills the question, e.g. from "ask about this")."""
    return render(request, "chat.html", conversation=None, messages=[], prefill=q[:MAX_MESSAGE_CHARS],
                  past=container.chat.conversations(rep, channel="web", kb=_kb(container, rep)),
                  answer_html=answer_html)


@router.get("/chat/{conversation_id}")
def chat_page(request: Request, conversation_id: str, rep: RepDep, container: ContainerDep) -> Response:
    """One conversation: every question and answer, citations, ratings; ask a follow-up."""
    transcript = _owned_conversation(container, conversation_id, rep)
    return render(request, "chat.html", conversation=conversation_id, messages=transcript["messages"], prefill="",
                  past=container.chat.conversations(rep, channel="web", kb=_kb(container, rep)),
                  answer_html=answer_html)


@router.post("/chat", dependencies=[CSRF])
async def ask(
    request: Request, rep: RepDep, container: ContainerDep, message: Message,
    conversation_id: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Answer a question; without JavaScript the page reloads, with HTMX the answer streams in."""
    if not message.strip():
        raise BadRequestError("type a question first")
    if conversation_id:
        _owned_conversation(container, conversation_id, rep)
    result = await asyncio.to_thread(container.chat.answer, message, conversation_id or None, None, rep, "web",
                                     _kb(container, rep))
    if not is_htmx(request):
        return _see_other(f"/chat/{result.conversation_id}#a-{result.message_id}")
    response = render(request, "fragments/exchange.html", question=message.strip(), message_id=result.message_id,
                      conversation=result.conversation_id)
    response.headers["HX-Push-Url"] = f"/chat/{result.conversation_id}"
    return response


def _sse(event: str, html: str) -> str:
    data = "".join(f"data: {line}\n" for line in html.splitlines() or [""])
    return f"event: {event}\n{data}\n"


@router.get("/chat/answers/{message_id}/stream")
async def stream_answer(request: Request, message_id: str, rep: RepDep, container: ContainerDep) -> Response:
    """Stream a stored answer to the page: `delta` events with text, then `done` with the rendered answer."""
    answer = container.chat.stored_answer(message_id, kb=_kb(container, rep))
    if answer["user"] != rep:
        raise NotFoundError(f"Message {message_id!r} not found")
    done = render_fragment(request, "fragments/answer.html", m={**answer, "rating": None}, answer_html=answer_html)

    async def events() -> AsyncIterator[str]:
        # Whole lines or short phrases, like /v1/chat/stream, so a citation tag never splits across events.
        for piece in re.findall(r"[^\n]*\n|[^\n]+$", answer["content"]):
            for part in re.findall(r".{1,40}(?:\s|$)|.{1,40}", piece, flags=re.S):
                yield _sse("delta", str(escape(part)))
                await asyncio.sleep(0.02)
        yield _sse("done", done)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/chat/answers/{message_id}/feedback", dependencies=[CSRF])
def rate(
    request: Request, message_id: str, rep: RepDep, container: ContainerDep,
    rating: Annotated[str, Form(pattern="^(up|down)$")],
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Record 👍/👎 with an optional comment."""
    answer = container.chat.stored_answer(message_id, kb=_kb(container, rep))
    if answer["user"] != rep:
        raise NotFoundError(f"Message {message_id!r} not found")
    container.chat.feedback(message_id, rating, comment.strip() or None, kb=_kb(container, rep))
    if is_htmx(request):
        return render(request, "fragments/rated.html", rating=rating)
    return _see_other(f"/chat/{answer['conversation_id']}#a-{message_id}")


# -- standards ------------------------------------------------------------------------------------------------


@router.get("/standards")
def standards(request: Request, rep: RepDep, container: ContainerDep) -> Response:
    """The six stages, each item's text, what to do and avoid, with links to ask and to practise."""
    kb = _kb(container, rep)
    items = list_items(container, kb).items
    stages: dict[int, dict[str, Any]] = {}
    for item in items:
        if item.source != "standards":
            continue
        stage = stages.setdefault(item.stage, {"stage": item.stage, "title": item.stage_title, "items": []})
        stage["items"].append(item)
    trained_by: dict[str, list[str]] = {}
    for scenario in container.roleplay.list_scenarios(kb):
        for sid in scenario["trains"]:
            trained_by.setdefault(sid, []).append(scenario["id"])
    return render(request, "standards.html", stages=[stages[k] for k in sorted(stages)], trained_by=trained_by)


# -- practice -------------------------------------------------------------------------------------------------


@router.get("/practice")
def catalogue(request: Request, rep: RepDep, container: ContainerDep, standard: str | None = None) -> Response:
    """The scenario catalogue, with this rep's assignments on top."""
    kb = _kb(container, rep)
    scenarios = container.roleplay.list_scenarios(kb)
    if standard:
        scenarios = [s for s in scenarios if standard in s["trains"]]
    return render(request, "practice.html", scenarios=scenarios, standard=standard,
                  assignments=container.training.assignments(rep, kb=kb))


@router.get("/practice/{scenario_id}")
def briefing(request: Request, scenario_id: str, rep: RepDep, container: ContainerDep) -> Response:
    """The briefing: who the customer is, what the scenario trains, language and difficulty."""
    scenario = _scenario(container, scenario_id, _kb(container, rep))
    return render(request, "briefing.html", scenario=scenario)


def _scenario(container: Any, scenario_id: str, kb: str) -> dict[str, Any]:
    for scenario in container.roleplay.list_scenarios(kb):
        if scenario["id"] == scenario_id:
            return dict(scenario)
    raise NotFoundError(f"Scenario {scenario_id!r} not found; see the list on /practice")


@router.post("/practice/{scenario_id}", dependencies=[CSRF])
def start(
    request: Request, scenario_id: str, rep: RepDep, container: ContainerDep,
    lang: Annotated[str, Form(pattern="^(zh|en)$")], difficulty: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """Start (or restart) a session and open the practice screen."""
    session = container.roleplay.start(scenario_id, lang, difficulty or None, rep, kb=_kb(container, rep))
    return _see_other(f"/sessions/{session['session_id']}")


def _owned_session(container: Any, session_id: str, rep: str) -> dict[str, Any]:
    session: dict[str, Any] = container.roleplay.get(session_id, kb=_kb(container, rep))
    if session["rep"] != rep:
        raise NotFoundError(f"Session {session_id!r} not found; your sessions are listed on /attempts")
    return session


@router.get("/sessions/{session_id}")
def practice(request: Request, session_id: str, rep: RepDep, container: ContainerDep) -> Response:
    """The practice screen: the customer's lines, hints per turn, trust/patience/progress, end and restart."""
    session = _owned_session(container, session_id, rep)
    if session["status"] == "ended":
        return _see_other(f"/sessions/{session_id}/scorecard")
    return render(request, "session.html", s=session, hints=request.cookies.get(HINTS_COOKIE, "on") == "on")


@router.post("/sessions/{session_id}/turns", dependencies=[CSRF])
async def turn(request: Request, session_id: str, rep: RepDep, container: ContainerDep, message: Message) -> Response:
    """Send the rep's message; HTMX gets the new turn and the meters, a plain form gets the page again."""
    _owned_session(container, session_id, rep)
    if not message.strip():
        raise BadRequestError("type what you would say to the customer first")
    result = await asyncio.to_thread(container.roleplay.turn, session_id, message, _kb(container, rep))
    if result["done"]:
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": f"/sessions/{session_id}/scorecard"})
        return _see_other(f"/sessions/{session_id}/scorecard")
    if not is_htmx(request):
        return _see_other(f"/sessions/{session_id}#latest")
    session = container.roleplay.get(session_id, kb=_kb(container, rep))
    return render(request, "fragments/turn.html", s=session, turn=session["transcript"][-2:],
                  hints=request.cookies.get(HINTS_COOKIE, "on") == "on")


@router.post("/sessions/{session_id}/end", dependencies=[CSRF])
def end(request: Request, session_id: str, rep: RepDep, container: ContainerDep) -> RedirectResponse:
    """End the session and show the scorecard."""
    _owned_session(container, session_id, rep)
    container.roleplay.end(session_id, kb=_kb(container, rep))
    return _see_other(f"/sessions/{session_id}/scorecard")


@router.get("/sessions/{session_id}/scorecard")
def scorecard(request: Request, session_id: str, rep: RepDep, container: ContainerDep) -> Response:
    """The scorecard: score, the arithmetic, rubric rows quoting the rep, strengths, improvements, try again."""
    _owned_session(container, session_id, rep)
    review = container.training.review(session_id, kb=_kb(container, rep))
    if review["scorecard"] is None:
        return _see_other(f"/sessions/{session_id}")
    return render(request, "scorecard.html", s=review, card=review["scorecard"],
                  standard_titles=_standard_titles(container, _kb(container, rep)))


@router.post("/prefs/hints", dependencies=[CSRF])
def toggle_hints(request: Request, hints: Annotated[str, Form(pattern="^(on|off)$")],
                 next: Annotated[str, Form()] = "/practice") -> RedirectResponse:
    """Turn the per-turn hints on or off (a preference cookie)."""
    response = _see_other(safe_next(next, "/practice"))
    response.set_cookie(HINTS_COOKIE, hints, max_age=365 * 24 * 3600, samesite="lax", httponly=True)
    return response


@router.get("/attempts")
def attempts(request: Request, rep: RepDep, container: ContainerDep) -> Response:
    """My attempts per scenario: first, best and latest score, and my assignments."""
    kb = _kb(container, rep)
    titles = {s["id"]: s["title"] for s in container.roleplay.list_scenarios(kb)}
    return render(request, "attempts.html", attempts=container.training.attempts(rep, kb=kb), titles=titles,
                  assignments=container.training.assignments(rep, kb=kb))



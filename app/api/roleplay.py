"""Role-play practice: scenarios, sessions, turns with feedback, and the scorecard."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from app.api.kb import KbDep
from app.api.strict import StrictJSONRoute
from app.errors import error_responses
from app.limits import MessageText
from app.roleplay.service import RoleplayService

router = APIRouter(prefix="/v1/roleplay", tags=["roleplay"], route_class=StrictJSONRoute,
                   responses=error_responses(400, 429))


def get_roleplay(request: Request) -> RoleplayService:
    """Return the role-play service built in the lifespan."""
    service: RoleplayService = request.app.state.container.roleplay
    return service


RoleplayDep = Annotated[RoleplayService, Depends(get_roleplay)]


class StartRequest(BaseModel):
    """Start a practice session."""

    scenario: str = Field(min_length=1, max_length=64, examples=["price-objection"])
    lang: Literal["zh", "en"]
    difficulty: Literal["easy", "normal", "hard"] | None = None
    rep: str | None = Field(default=None, max_length=128, description="Who is practising (for trainer views).")


class TurnRequest(BaseModel):
    """One message from the rep."""

    message: MessageText


class Feedback(BaseModel):
    """One judgement on the rep's message, tied to a standard."""

    id: str
    title: str
    verdict: Literal["followed", "violated"]
    note: str
    evidence: str


class StartResponse(BaseModel):
    """The new session and the customer's opening line."""

    session_id: str
    customer: str
    scenario: dict[str, Any]
    state: dict[str, Any]


class TurnResponse(BaseModel):
    """The customer's reply, feedback on the rep's message and the new state."""

    customer: str
    feedback: list[Feedback]
    state: dict[str, Any]
    done: bool


class RubricRow(BaseModel):
    """One scored point, citing the rep's words and a standard."""

    id: str
    title: str
    verdict: Literal["followed", "violated", "missed"]
    evidence: str = Field(description="The rep's words; empty for a standard kept or missed over the whole session.")
    turn: int = Field(description="The first turn it happened in; 0 for the whole session.")
    count: int = Field(default=1, description="How many times it happened (a repeated violation counts each time).")
    turns: list[int] = Field(default_factory=list, description="Every turn it happened in.")
    note: str
    technique: str | None = Field(default=None, description="The move judged (e.g. concession, close, reveal); none "
                                                              "for a standard kept or missed over the session.")


class Scorecard(BaseModel):
    """The end-of-session score and how it was reached."""

    score: int = Field(ge=0, le=100)
    rubric: list[RubricRow]
    strengths: list[str]
    improvements: list[str]
    summary: str
    breakdown: list[dict[str, Any]]
    outcome: str | None


@router.get("/scenarios")
def list_scenarios(service: RoleplayDep, kb: KbDep) -> dict[str, list[dict[str, Any]]]:
    """List the scenarios a rep can practise."""
    return {"scenarios": service.list_scenarios(kb)}


@router.post("/sessions", status_code=201, responses=error_responses(404, 413))
def start_session(body: StartRequest, service: RoleplayDep, kb: KbDep) -> StartResponse:
    """Start a session; the customer speaks first."""
    return StartResponse(**service.start(body.scenario, body.lang, body.difficulty, body.rep, kb=kb))


@router.post("/sessions/{session_id}/turns", responses=error_responses(404, 409, 413))
def play_turn(session_id: str, body: TurnRequest, service: RoleplayDep, kb: KbDep) -> TurnResponse:
    """Send the rep's message; get the customer's reply and feedback tied to the standards."""
    return TurnResponse(**service.turn(session_id, body.message, kb=kb))


@router.post("/sessions/{session_id}/end", responses=error_responses(404, 409))
def end_session(session_id: str, service: RoleplayDep, kb: KbDep) -> Scorecard:
    """End the session and return the scorecard (repeat calls return the same scorecard)."""
    return Scorecard(**service.end(session_id, kb=kb))


@router.get("/sessions/{session_id}", responses=error_responses(404))
def get_session(session_id: str, service: RoleplayDep, kb: KbDep) -> dict[str, Any]:
    """Return the transcript, per-turn feedback, state and scorecard."""
    return service.get(session_id, kb=kb)

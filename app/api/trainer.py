"""Trainer views behind a bearer token: sessions, CSV export, most-violated standards, unanswered questions."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.chat import ChatDep
from app.api.kb import KbDep
from app.api.roleplay import RoleplayDep
from app.api.strict import StrictJSONRoute
from app.errors import UnauthorizedError, error_responses

bearer = HTTPBearer(auto_error=False)


def require_trainer(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    """Accept only a bearer token listed in COACH_TRAINER_TOKENS."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise UnauthorizedError("trainer routes need 'Authorization: Bearer <token>' with a COACH_TRAINER_TOKENS token")
    tokens = request.app.state.container.settings.trainer_token_list
    # Compare against every token so the time taken does not reveal which one nearly matched.
    matched = [secrets.compare_digest(credentials.credentials.encode(), t.encode()) for t in tokens]
    if not any(matched):
        raise UnauthorizedError("invalid trainer token; use one listed in COACH_TRAINER_TOKENS")


TRAINER_ERRORS = error_responses(400, 401, 429)
router = APIRouter(prefix="/v1/trainer", tags=["trainer"], dependencies=[Depends(require_trainer)],
                   route_class=StrictJSONRoute, responses=TRAINER_ERRORS)
RepQuery = Annotated[str | None, Query(max_length=128, description="Only this rep's sessions.")]
ScenarioQuery = Annotated[str | None, Query(max_length=64, description="Only this scenario's sessions.")]


@router.get("/sessions")
def list_sessions(
    service: RoleplayDep, kb: KbDep, rep: RepQuery = None, scenario: ScenarioQuery = None
) -> dict[str, Any]:
    """List one knowledge base's sessions newest first, with score, outcome and the standards violated."""
    return {"sessions": service.sessions(rep, scenario, kb=kb)}


class CSVResponse(PlainTextResponse):
    """A CSV download."""

    media_type = "text/csv"


@router.get("/sessions.csv", response_class=CSVResponse)
def export_sessions(
    service: RoleplayDep, kb: KbDep, rep: RepQuery = None, scenario: ScenarioQuery = None
) -> CSVResponse:
    """Export the session list as CSV (cells that a spreadsheet would run as formulas start with a quote)."""
    return CSVResponse(
        service.sessions_csv(rep, scenario, kb=kb), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="roleplay-sessions.csv"'},
    )


@router.get("/reps/{rep}/summary", responses=error_responses(404))
def rep_summary(rep: str, service: RoleplayDep, kb: KbDep) -> dict[str, Any]:
    """Summarise one rep: sessions, average score, the standards most often violated and followed."""
    return service.rep_summary(rep, kb=kb)


# Reps' own questions: trainers only, like the session views.
reports = APIRouter(prefix="/v1/reports", tags=["trainer"], dependencies=[Depends(require_trainer)],
                    route_class=StrictJSONRoute, responses=TRAINER_ERRORS)


@reports.get("/unanswered")
def unanswered(service: ChatDep, kb: KbDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """List one knowledge base's questions that ended out of scope or were down-voted, with counts."""
    return {"questions": service.unanswered(limit, kb=kb)}

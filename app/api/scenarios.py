"""Scenario files over the API, for trainers: read one with its version (ETag), create, replace (If-Match), preview."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.api.deps import ContainerDep
from app.api.knowledge import list_items
from app.api.roleplay import RoleplayDep
from app.api.strict import StrictJSONRoute
from app.api.trainer import require_trainer
from app.errors import BadRequestError, error_responses
from app.knowledge.bases import DEFAULT
from app.limits import MAX_MESSAGE_CHARS
from app.roleplay.editor import MAX_PREVIEW_TURNS, FieldError, ScenarioFiles, preview, validate
from app.roleplay.scenarios import Scenario

# A scenario's problems, every field at once; a body of the wrong shape gets FastAPI's own list of errors instead.
PROBLEMS: dict[str, Any] = {
    "description": "The scenario (or the request body) has problems: `errors` names each field and what is wrong",
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["detail"],
        "properties": {
            "detail": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
            "errors": {"type": "array", "items": {
                "type": "object", "required": ["field", "code", "message"],
                "properties": {"field": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}},
            }},
        },
    }}},
}


router = APIRouter(prefix="/v1/trainer/scenarios", tags=["trainer"], dependencies=[Depends(require_trainer)],
                   route_class=StrictJSONRoute, responses={**error_responses(400, 401, 429), 422: PROBLEMS})
STANDARD_ID = re.compile(r"^s\d+\.[a-z]+\.\d+$")
IfMatch = Annotated[str | None, Header(description="The version (ETag) read with GET; required to replace a file.")]


class ScenarioBody(BaseModel):
    """A scenario file's fields as written in YAML (its own lines only; _common.yaml supplies the rest)."""

    scenario: dict[str, Any]


class PreviewBody(ScenarioBody):
    """A draft and the rep's messages to play against it."""

    lang: Literal["zh", "en"] = "en"
    difficulty: Literal["easy", "normal", "hard"] | None = None
    messages: list[Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_CHARS)]] = Field(
        min_length=1, max_length=MAX_PREVIEW_TURNS)


def _problems(errors: list[FieldError]) -> JSONResponse:
    first = errors[0]
    return JSONResponse(status_code=422, content={
        "detail": f"the scenario has {len(errors)} problem(s); first, field '{first.field}': {first.message}",
        "errors": [{"field": e.field, "code": e.code, "message": e.message} for e in errors],
    })


def _checked(container: Any, raw: dict[str, Any]) -> tuple[Scenario | None, list[FieldError]]:
    known = ({i.id for i in list_items(container, DEFAULT).items if STANDARD_ID.match(i.id)}
             if container.index is not None else None)
    return validate(raw, ScenarioFiles.of(container.settings).common(), known)


def _etag(version: str) -> str:
    return f'"{version}"'


@router.get("/{scenario_id}", responses=error_responses(404))
def read_scenario(scenario_id: str, container: ContainerDep, response: Response) -> dict[str, Any]:
    """Return a scenario file's fields and its version (also the ETag to send back in If-Match)."""
    raw, version = ScenarioFiles.of(container.settings).read(scenario_id)
    response.headers["ETag"] = _etag(version)
    return {"id": scenario_id, "version": version, "scenario": raw}


@router.post("", status_code=201, responses=error_responses(409, 413))
def create_scenario(body: ScenarioBody, container: ContainerDep, response: Response) -> Any:
    """Save a new scenario file; 409 if its id is taken. Reps can practise it at once, in every worker."""
    scenario, errors = _checked(container, body.scenario)
    if scenario is None:
        return _problems(errors)
    version = ScenarioFiles.of(container.settings).save(body.scenario, scenario, None)
    response.headers["ETag"] = _etag(version)
    return {"id": scenario.id, "version": version}


@router.put("/{scenario_id}", responses=error_responses(404, 409, 413))
def replace_scenario(scenario_id: str, body: ScenarioBody, container: ContainerDep, response: Response,
                     if_match: IfMatch = None) -> Any:
    """Replace a scenario file; 409 unless If-Match names the version on disk (someone else saved since)."""
    files = ScenarioFiles.of(container.settings)
    files.read(scenario_id)  # 404 first
    if not if_match:
        raise BadRequestError(f"send If-Match with the version from GET /v1/trainer/scenarios/{scenario_id}")
    if body.scenario.get("id", scenario_id) != scenario_id:
        raise BadRequestError(f"the body's id must be {scenario_id!r}; to make a new scenario, POST it")
    raw = {**body.scenario, "id": scenario_id}
    scenario, errors = _checked(container, raw)
    if scenario is None:
        return _problems(errors)
    version = files.save(raw, scenario, if_match.strip().removeprefix("W/").strip('"'))
    response.headers["ETag"] = _etag(version)
    return {"id": scenario.id, "version": version}


@router.post("/preview", responses=error_responses(413))
def preview_scenario(body: PreviewBody, container: ContainerDep, service: RoleplayDep) -> Any:
    """Play the messages against a draft without saving it: each reply, its feedback and the meters."""
    scenario, errors = _checked(container, body.scenario)
    if scenario is None:
        return _problems(errors)
    return preview(service, scenario, body.lang, body.difficulty or scenario.difficulty, body.messages)

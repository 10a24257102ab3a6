"""Admin routes (trainer token): list the knowledge bases and map Slack workspaces, channels and users to them.

Bases themselves are added with `coach kb add NAME FOLDER` on the server: a folder path is not something to
accept over HTTP.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from app.api.strict import StrictJSONRoute
from app.api.trainer import TRAINER_ERRORS, require_trainer
from app.errors import error_responses
from app.knowledge.bases import KINDS, KnowledgeBases, describe


def get_bases(request: Request) -> KnowledgeBases:
    """Return the registry of knowledge bases."""
    bases: KnowledgeBases = request.app.state.container.bases
    return bases


BasesDep = Annotated[KnowledgeBases, Depends(get_bases)]
router = APIRouter(prefix="/v1/kb", tags=["knowledge bases"], dependencies=[Depends(require_trainer)],
                   route_class=StrictJSONRoute, responses=TRAINER_ERRORS)


class MappingRequest(BaseModel):
    """The base to serve a Slack workspace, a Slack channel or a user."""

    kb: str = Field(min_length=1, max_length=40, examples=["retail"])


@router.get("")
def list_bases(bases: BasesDep) -> dict[str, Any]:
    """List the knowledge bases (folder, current build) and who is mapped to each."""
    return {"knowledge_bases": [describe(bases, base) for base in bases.all()], "kinds": list(KINDS)}


@router.put("/mappings/{kind}/{key}")
def put_mapping(kind: str, key: str, body: MappingRequest, bases: BasesDep) -> dict[str, str]:
    """Serve a base to a Slack workspace (`slack_team`, key: team id), channel (`slack_channel`, key:
    team id:channel id) or a user (`user`, key: the web user's name)."""
    bases.map(kind, key, body.kb)
    return {"kind": kind, "key": key, "kb": body.kb}


@router.delete("/mappings/{kind}/{key}", responses=error_responses(404))
def delete_mapping(kind: str, key: str, bases: BasesDep) -> dict[str, str]:
    """Remove a mapping: the workspace, channel or user is served `default` again."""
    bases.unmap(kind, key)
    return {"status": "removed"}

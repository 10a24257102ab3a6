"""Role-play routes (filled in by the role-play work)."""

from fastapi import APIRouter

router = APIRouter(prefix="/v1/roleplay", tags=["roleplay"])

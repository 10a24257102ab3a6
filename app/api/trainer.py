"""Trainer routes behind a bearer token (filled in by the role-play work)."""

from fastapi import APIRouter

router = APIRouter(prefix="/v1/trainer", tags=["trainer"])

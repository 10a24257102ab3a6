"""Role-play CLI commands (filled in by the role-play work)."""

from typing import Any


def register(cli: Any, eval_cli: Any) -> None:
    """Add the role-play commands to the `coach` CLI."""

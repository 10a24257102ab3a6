"""The second standards document (evals/doc2/, written apart from the code) as a company would bring it: a .docx,
imported through `coach import`. Its blind questions are scored by `coach eval document`, not here."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli
from app.config import ROOT
from app.evaluation.document import markdown_to_docx
from app.knowledge.documents import load_knowledge

DOC2 = ROOT / "evals" / "doc2"


def test_doc2_as_a_docx_through_coach_import(tmp_path: Path) -> None:
    source = tmp_path / "Northwind Standards.docx"
    source.write_bytes(markdown_to_docx((DOC2 / "retail-standards.md").read_text(encoding="utf-8")))
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    result = CliRunner().invoke(cli, ["import", str(source)], env={"COACH_KNOWLEDGE_DIR": str(knowledge)})
    assert result.exit_code == 0, result.output
    assert "structure: 8 stages, 32 standards, 18 cautions, 0 stage goals (50 items)" in result.output
    assert "defects: none found" in result.output
    items = {i.id: i for i in load_knowledge(knowledge)}
    assert len(items) == 50 and all(i.lang == "en" and not i.hints and not i.do for i in items.values())
    first = items["northwind-standards.s1.standard.1"]
    assert first.title == "Acknowledge every customer within 30 seconds"
    assert first.text.startswith("Any customer who enters your zone must be acknowledged within 30 seconds")
    assert first.stage_title == "1. Greeting and Approach"
    # Every label the blind questions use names an imported item.
    labels = {json.loads(line)["expected"][0].lower() for line in (DOC2 / "questions.jsonl").open(encoding="utf-8")}
    text = (DOC2 / "retail-standards.md").read_text(encoding="utf-8").lower()
    assert all(f"**{label} —" in text for label in labels)

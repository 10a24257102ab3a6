"""The trainer rules that need no app: assignment status, formula-safe CSV cells, learned search phrases."""

from __future__ import annotations

import json
from datetime import date

import pytest

from app.config import ROOT
from app.knowledge.documents import KnowledgeError, load_knowledge
from app.training.service import Cell, assignment_status, formula_safe

DUE = date(2026, 12, 1)


@pytest.mark.parametrize(("best", "active", "ended", "today", "status"), [
    (None, False, False, date(2026, 11, 1), "not_started"),
    (None, True, False, date(2026, 11, 1), "in_progress"),
    (50, False, True, date(2026, 11, 1), "below_minimum"),
    (50, True, True, date(2026, 11, 1), "below_minimum"),
    (70, False, True, date(2026, 11, 1), "passed"),
    (90, False, True, date(2026, 12, 9), "passed"),
    (50, False, True, date(2026, 12, 2), "past_due"),
    (None, False, False, date(2026, 12, 2), "past_due"),
    (None, False, False, DUE, "not_started"),
])
def test_assignment_status(best, active, ended, today, status):
    assert assignment_status(best, 70, active, ended, DUE, today) == status


@pytest.mark.parametrize(("value", "safe"), [
    ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("+1", "'+1"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("amy", "amy"), ("", ""), (42, 42), (None, None),
])
def test_formula_safe(value, safe):
    assert formula_safe(value) == safe


def test_heatmap_cell_rates_and_colour():
    assert Cell().colour == "#f2f2f2"
    good, bad = Cell(followed=3), Cell(violated=2, missed=1)
    assert good.rate("followed") == 1.0 and good.colour == "hsl(120, 65%, 82%)"
    assert round(bad.rate("violated"), 2) == 0.67 and bad.colour.startswith("hsl(10,")


def test_learned_phrases_become_search_hints_at_the_next_load(tmp_path):
    folder = tmp_path / "knowledge"
    folder.mkdir()
    for name in ("standards.zh.md", "standards.en.md"):
        (folder / name).write_text((ROOT / "knowledge" / name).read_text(encoding="utf-8"), encoding="utf-8")
    before = {i.chunk_id: i for i in load_knowledge(folder)}
    lines = [{"id": "s4.caution.1", "lang": "en", "phrase": "client wants a freebie"},
             {"id": "s4.caution.1", "lang": "en", "phrase": "client wants a freebie"},
             {"id": "s4.caution.1", "lang": "zh", "phrase": "客户要赠品"}]
    (folder / "learned-phrases.jsonl").write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines))
    after = {i.chunk_id: i for i in load_knowledge(folder)}
    assert after["s4.caution.1@en"].hints == before["s4.caution.1@en"].hints + ", client wants a freebie"
    assert after["s4.caution.1@zh"].hints.endswith("、客户要赠品")
    assert after["s4.caution.2@en"] == before["s4.caution.2@en"]
    (folder / "learned-phrases.jsonl").write_text("not json\n")
    with pytest.raises(KnowledgeError, match="learned-phrases.jsonl line 1"):
        load_knowledge(folder)

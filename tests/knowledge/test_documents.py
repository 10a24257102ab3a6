from pathlib import Path

import pytest

from app.config import ROOT
from app.knowledge.documents import KnowledgeError, load_knowledge

STANDARD_IDS = {f"s{s}.{k}.{n}" for s in range(1, 7) for k in ("standard", "caution") for n in range(1, 5)} | {
    "s6.standard.5"
}
INTRO_IDS = {f"s{s}.intro" for s in range(1, 7)}


@pytest.fixture(scope="module")
def items():
    return load_knowledge(ROOT / "knowledge")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_each_language_has_49_items_and_6_intros(items, lang):
    mine = [i for i in items if i.lang == lang and i.kind != "playbook"]
    assert {i.id for i in mine if i.kind in ("standard", "caution")} == STANDARD_IDS
    assert {i.id for i in mine if i.kind == "intro"} == INTRO_IDS
    assert len(mine) == 55


def test_every_item_has_title_text_and_separate_enrichment(items):
    for item in items:
        assert item.title and item.text and item.hints and item.do and item.avoid, item.chunk_id
        assert "检索提示" not in item.text and "Search hints" not in item.text


def test_source_text_is_clean_simplified_chinese(items):
    zh = {i.id: i for i in items if i.lang == "zh"}
    assert zh["s4.caution.1"].title == "不轻易降价"
    assert zh["s4.caution.1"].text.startswith("价格是敏感点，降价应谨慎。")
    assert "新的需求。可通过电话" in zh["s6.standard.3"].text
    assert "带着预设的答案" in zh["s2.caution.1"].text
    whole = "".join(i.text for i in zh.values())
    for defect in ("(wù)", "服務", "??", "带著"):
        assert defect not in whole


def test_the_truncated_item_is_marked_editorial(items):
    editorial = {(i.id, i.lang) for i in items if i.editorial}
    assert editorial == {("s6.caution.4", "zh"), ("s6.caution.4", "en")}


def test_playbooks_are_chunked_by_heading_with_derived_ids(tmp_path: Path):
    (tmp_path / "pricing-playbook.en.md").write_text(
        "# Pricing playbook\n\nIntro line.\n\n## Anchor on value\n\nShow the ROI first.\n\n"
        "## Anchor on value\n\nSecond section with the same heading.\n\n## Empty\n\n",
        encoding="utf-8",
    )
    (tmp_path / "异议手册.md").write_text("## 客户说太贵\n\n先问清楚和谁比较。\n", encoding="utf-8")
    got = {(i.id, i.lang) for i in load_knowledge(tmp_path)}
    assert got == {
        ("playbook.pricing-playbook.pricing-playbook", "en"),
        ("playbook.pricing-playbook.anchor-on-value", "en"),
        ("playbook.pricing-playbook.anchor-on-value-2", "en"),
        ("playbook.异议手册.客户说太贵", "zh"),
    }


def test_malformed_standards_file_names_file_and_line(tmp_path: Path):
    (tmp_path / "standards.en.md").write_text(
        "## Stage\n\n#### s1.standard.1 Title\n\nText.\n\n> Do: one\n> Do: two\n", encoding="utf-8"
    )
    with pytest.raises(KnowledgeError, match=r"standards.en.md:8: item s1.standard.1 has a second 'do' line"):
        load_knowledge(tmp_path)


def test_item_without_text_is_rejected(tmp_path: Path):
    (tmp_path / "standards.zh.md").write_text("## 阶段\n\n#### s1.standard.1 标题\n\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"standards.zh.md:3: item s1.standard.1 has no text"):
        load_knowledge(tmp_path)

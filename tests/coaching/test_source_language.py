"""An answer built on a source in the other language says so (a one-language document serves both)."""

from app.coaching.composer import compose
from app.knowledge.retriever import Hit


def hit(lang: str) -> Hit:
    return Hit(id="store.s1.standard.1", stage=1, kind="standard", title="Greet quickly",
               text="Greet every customer within 30 seconds.", lang=lang, score=1.0, relevance=0.5,
               do="Greet within 30 seconds.", avoid="", say="", source="store.en.md")


def test_a_chinese_asker_is_told_the_source_is_english() -> None:
    assert compose([hit("en")], "zh").endswith("_注：引用的标准原文是英文（来源文档只有英文版）。_")
    assert "source" not in compose([hit("en")], "en") and "注：" not in compose([hit("en")], "en")


def test_an_english_asker_is_told_the_source_is_chinese() -> None:
    assert compose([hit("zh")], "en").endswith("_Note: the standards quoted are in Chinese, the language of the "
                                               "source document._")

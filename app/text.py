"""Small text utilities shared by retrieval, chat and role-play: language detection and tokenising."""

from __future__ import annotations

import re
import threading

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
LATIN_WORD = re.compile(r"[A-Za-z]+")
TOKEN = re.compile(r"[a-z0-9]+|[\u3400-\u9fff\uf900-\ufaff]+")

EN_STOPWORDS = frozenset(
    """a an the and or but if then so to of in on at for with by from as is are was were be been being do does
    did i me my we our you your he she it its they them their this that these those what which who whom how
    why when where can could should would will shall may might must have has had not no yes just about into
    over than too very there here up out get got any some all more most such own same s t don doesn didn
    im i'm ok""".split()
)
ZH_STOPWORDS = frozenset(
    "的 了 吗 呢 吧 啊 呀 是 我 你 他 她 它 我们 你们 他们 这 那 这个 那个 就 都 也 还 和 与 及 或 在 有 要 会 能 "
    "怎么 怎么办 怎样 如何 什么 应该 该 吗 把 被 给 对 让 一个 一下 么 呃 嗯 时候 时 ？ ，".split()
)

_jieba_lock = threading.Lock()


def letters(text: str) -> str:
    """Return a text's letters and digits in lower case, without punctuation or spaces (for comparing wordings)."""
    return re.sub(r"[\W_]+", "", text.lower())


def detect_language(text: str) -> str:
    """Return 'zh' when the text is mostly Chinese, else 'en'."""
    cjk = len(CJK.findall(text))
    words = len(LATIN_WORD.findall(text))
    return "zh" if cjk and cjk >= words else "en"


def _jieba():  # type: ignore[no-untyped-def]
    """Return jieba, initialised once (its dictionary takes about a second to load)."""
    import logging

    import jieba

    with _jieba_lock:
        if not jieba.dt.initialized:
            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
    return jieba


def warm_up_tokenizer() -> threading.Thread:
    """Load the Chinese dictionary in the background, so that it overlaps with loading the models."""
    thread = threading.Thread(target=_jieba, name="jieba-warm-up", daemon=True)
    thread.start()
    return thread


def add_words(words: list[str]) -> None:
    """Teach the Chinese tokeniser domain words (e.g. from the knowledge base's hints)."""
    jieba = _jieba()
    for word in words:
        word = word.strip()
        if 2 <= len(word) <= 8 and CJK.search(word) and not LATIN_WORD.search(word):
            jieba.add_word(word, freq=2000)


def stem(word: str) -> str:
    """Strip common English suffixes so 'objections' and 'objection' meet."""
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("ly", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: len(word) - len(suffix)] + keep
    return word


def tokenize(text: str) -> list[str]:
    """Split text into lexical tokens: jieba words (and their bigrams) for Chinese, stems for English."""
    tokens: list[str] = []
    for run in TOKEN.findall(text.lower()):
        if CJK.match(run):
            words = [w for w in _jieba().lcut_for_search(run) if w not in ZH_STOPWORDS]
            tokens.extend(words)
            # Character bigrams make matching robust to segmentation differences.
            tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
        elif run not in EN_STOPWORDS:
            tokens.append(stem(run))
    return tokens


def analysed_prefix(text: str, budget: int) -> str:
    """Return the start of `text` worth about `budget` model tokens: one per CJK character, a quarter per other."""
    cost = 0.0
    for i, char in enumerate(text):
        cost += 1.0 if CJK.match(char) else 0.25
        if cost > budget:
            return text[:i]
    return text

"""The LLM path: history-aware query rewriting, then an answer grounded in retrieved items, checked before use."""

from __future__ import annotations

import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.coaching.store import Turn
from app.knowledge.retriever import Hit

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

CITATION = re.compile(r"\[([A-Za-z0-9_.\-\u4e00-\u9fff]+)\]")
LANGUAGE_NAMES = {"zh": "Simplified Chinese", "en": "English"}


class LLMFailure(Exception):
    """The model timed out, errored, or produced an answer that failed the checks."""


@dataclass(frozen=True)
class LLMAnswer:
    """A checked model answer and the retrieved ids it cites."""

    text: str
    cited: list[str]


def _load(prompts_dir: Path, name: str) -> str:
    return (prompts_dir / name).read_text(encoding="utf-8")


def _quote(text: str) -> str:
    # Keep quoted data from closing its own block.
    return text.replace("<<<", "‹‹‹").replace(">>>", "›››")


class LLMAnswerer:
    """Runs the rewrite and answer chains with a time limit, and validates what comes back."""

    def __init__(self, model: BaseChatModel, prompts_dir: Path, timeout_s: float) -> None:
        # LangChain is imported only when an LLM is configured: it costs about a second of start-up.
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate

        self.canary = "CANARY-" + secrets.token_hex(8)
        system = _load(prompts_dir, "answer.txt")
        self._system_probe = system.splitlines()[0][:60]
        answer_prompt = ChatPromptTemplate.from_messages(
            [("system", system), ("human", _load(prompts_dir, "answer_user.txt"))]
        )
        rewrite_prompt = ChatPromptTemplate.from_messages([("human", _load(prompts_dir, "rewrite.txt"))])
        self._answer = answer_prompt | model | StrOutputParser()
        self._rewrite = rewrite_prompt | model | StrOutputParser()
        self._timeout = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="llm")

    def _run(self, chain, inputs: dict[str, str]) -> str:  # type: ignore[no-untyped-def]
        future = self._pool.submit(chain.invoke, inputs)
        try:
            return str(future.result(timeout=self._timeout))
        except FutureTimeout as exc:
            future.cancel()
            raise LLMFailure(f"model did not answer within {self._timeout:g}s") from exc
        except Exception as exc:
            raise LLMFailure(f"model error: {type(exc).__name__}") from exc

    def rewrite(self, history: list[Turn], question: str) -> str:
        """Return the follow-up as a standalone question (the original when there is no history)."""
        if not history:
            return question
        text = self._run(self._rewrite, {"history": _format_history(history), "question": _quote(question)}).strip()
        return text if 0 < len(text) <= 500 else question

    def answer(self, question: str, hits: list[Hit], lang: str, history: list[Turn]) -> LLMAnswer:
        """Return a checked answer citing only retrieved ids, or raise LLMFailure."""
        standards = "\n\n".join(f"[{h.id}] {h.title}\n{_quote(h.text)}" for h in hits)
        raw = self._run(
            self._answer,
            {
                "canary": self.canary, "language_name": LANGUAGE_NAMES[lang], "standards": standards,
                "history": _format_history(history), "question": _quote(question),
            },
        )
        if self.canary in raw or self._system_probe in raw:
            raise LLMFailure("model output contained the system prompt")
        allowed = {h.id for h in hits}
        cited: list[str] = []

        def keep(match: re.Match[str]) -> str:
            if match.group(1) in allowed:
                if match.group(1) not in cited:
                    cited.append(match.group(1))
                return match.group(0)
            return ""  # drop ids that were not retrieved

        text = re.sub(r"[ \t]+\n", "\n", CITATION.sub(keep, raw)).strip()
        if not cited or not text:
            raise LLMFailure("model answer cited none of the retrieved standards")
        return LLMAnswer(text=text, cited=cited)


def _format_history(history: list[Turn]) -> str:
    if not history:
        return "(none)"
    return "\n".join(f"{t.role}: {_quote(t.content[:600])}" for t in history)

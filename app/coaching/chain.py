"""The LLM path: a checked standalone rewrite of a follow-up, then an answer held to the retrieved items.

Everything the model does for one request shares one Budget (COACH_LLM_BUDGET_S); when it is spent or the
caller cancels, the client hangs up on the model server. Streaming holds back only what could still become
the canary or instruction text, so the rep sees words as the model writes them and never the secret.
"""

from __future__ import annotations

import difflib
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.coaching.grounding import TAG, Grounded, Grounder, resolve_tag
from app.coaching.llm_client import Budget, ChatClient, LLMFailure
from app.coaching.store import Turn
from app.coaching.support import content_tokens
from app.knowledge.retriever import Hit

LANGUAGE_NAMES = {"zh": "Simplified Chinese", "en": "English"}
INSTRUCTION_MARKERS = ("Security token", "STANDARDS (quoted data)", "REP'S QUESTION (quoted data)",
                       "CONVERSATION SO FAR (quoted data)")
MAX_REWRITE_CHARS = 500

__all__ = ["Budget", "LLMAnswer", "LLMAnswerer", "LLMFailure"]


@dataclass(frozen=True)
class LLMAnswer:
    """A checked model answer, the retrieved ids it cites, and what the checks did."""

    text: str
    cited: list[str]
    grounded: Grounded
    raw: str


def _load(prompts_dir: Path, name: str) -> str:
    return (prompts_dir / name).read_text(encoding="utf-8")


def _quote(text: str) -> str:
    # Keep quoted data from closing its own block.
    return text.replace("<<<", "‹‹‹").replace(">>>", "›››")


def check_rewrite(rewritten: str, follow_up: str, previous_question: str | None) -> str | None:
    """Return why a standalone rewrite is unusable, or None: it must differ from the follow-up and name the subject."""
    text = rewritten.strip()
    if not text or len(text) > MAX_REWRITE_CHARS:
        return "empty or too long"
    if difflib.SequenceMatcher(None, re.sub(r"\W", "", text), re.sub(r"\W", "", follow_up)).ratio() >= 0.85:
        return "copies the follow-up"
    if previous_question is not None:
        subject = set(content_tokens(previous_question)) - set(content_tokens(follow_up))
        if subject and not subject & set(content_tokens(text)):
            return "does not name the conversation's subject"
    return None


class LLMAnswerer:
    """Builds the prompts, talks to the model within the request's budget, and checks what comes back."""

    def __init__(self, client: ChatClient, prompts_dir: Path, grounder: Grounder) -> None:
        self.client = client
        self.grounder = grounder
        self.canary = "CANARY-" + secrets.token_hex(8)
        self._system = _load(prompts_dir, "answer.txt")
        self._user = _load(prompts_dir, "answer_user.txt")
        self._rewrite = _load(prompts_dir, "rewrite.txt")
        self._markers = (self.canary, self._system.splitlines()[0][:60], *INSTRUCTION_MARKERS)
        self.last_rewrite_rejected: str | None = None

    def rewrite(self, history: list[Turn], question: str, budget: Budget) -> str:
        """Return the follow-up as a checked standalone question (the follow-up itself when the rewrite fails)."""
        if not history:
            return question
        prompt = self._rewrite.format(history=_format_history(history), question=_quote(question))
        text = self.client.complete([{"role": "user", "content": prompt}], budget).strip()
        previous = next((t.content for t in reversed(history) if t.role == "user"), None)
        self.last_rewrite_rejected = check_rewrite(text, question, previous)
        return question if self.last_rewrite_rejected else text

    def messages(self, question: str, hits: list[Hit], lang: str, history: list[Turn]) -> list[dict[str, str]]:
        """Return the answer prompt's messages."""
        standards = "\n\n".join(f"[{h.id}] {h.title}\n{_quote(h.text)}" for h in hits)
        return [
            {"role": "system", "content": self._system.format(canary=self.canary, language_name=LANGUAGE_NAMES[lang])},
            {"role": "user", "content": self._user.format(standards=standards, history=_format_history(history),
                                                          question=_quote(question))},
        ]

    def leak(self, text: str) -> str | None:
        """Return the kind of secret text in a model output, if any."""
        if self.canary in text:
            return "canary"
        return "instruction_leak" if any(m in text for m in self._markers[1:]) else None

    def finish(self, raw: str, question: str, hits: list[Hit], lang: str, previous: str | None) -> LLMAnswer:
        """Check a complete model output; raise LLMFailure with the reason when it must not be served."""
        leaked = self.leak(raw)
        if leaked:
            raise LLMFailure("model output contained the system prompt", leaked)
        grounded = self.grounder.check(raw, hits, lang, question, previous)
        if grounded.text is None:
            raise LLMFailure(f"model answer failed the checks: {grounded.reason}", grounded.reason)
        return LLMAnswer(grounded.text, grounded.cited, grounded, raw)

    def answer(self, question: str, hits: list[Hit], lang: str, history: list[Turn], budget: Budget,
               previous: str | None = None) -> LLMAnswer:
        """Return a checked answer citing only retrieved ids that support it, or raise LLMFailure."""
        raw = self.client.complete(self.messages(question, hits, lang, history), budget)
        return self.finish(raw, question, hits, lang, previous)

    def stream(self, question: str, hits: list[Hit], lang: str, history: list[Turn], budget: Budget,
               raw_out: list[str]) -> Iterator[str]:
        """Yield displayable text as the model writes it (tags resolved, secrets held back); raw_out gets the raw."""
        raw = ""
        sent = 0
        for piece in self.client.stream(self.messages(question, hits, lang, history), budget):
            raw += piece
            raw_out[:] = [raw]
            leaked = self.leak(raw)
            if leaked:
                raise LLMFailure("model output contained the system prompt", leaked)
            safe = self._safe_end(raw, sent)
            if safe > sent:
                yield self._display(raw[sent:safe], hits)
                sent = safe
        if sent < len(raw):
            yield self._display(raw[sent:], hits)

    def _safe_end(self, raw: str, sent: int) -> int:
        """Return how far the raw text can be shown: not into an open tag or a possible start of a marker."""
        end = len(raw)
        bracket = raw.rfind("[", sent)
        if bracket >= 0 and "]" not in raw[bracket:]:
            end = bracket
        for marker in self._markers:
            for k in range(min(len(marker) - 1, end - sent), 0, -1):
                if raw[end - k:end] == marker[:k]:
                    end -= k
                    break
        return max(end, sent)

    def _display(self, text: str, hits: list[Hit]) -> str:
        def fix(match: re.Match[str]) -> str:
            resolved, _ = resolve_tag(match.group(1), hits, self.grounder.known_ids)
            return f"[{resolved}]" if resolved else ""

        return TAG.sub(fix, text)


def _format_history(history: list[Turn]) -> str:
    if not history:
        return "(none)"
    return "\n".join(f"{t.role}: {_quote(t.content[:600])}" for t in history)

"""The chat service: intent, retrieval with conversation context, an answer (composer or LLM), and storage."""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from app.coaching.chain import LLMAnswerer, LLMFailure
from app.coaching.composer import compose, lead_line, message, source_language_note
from app.coaching.intent import IntentClassifier, IntentResult
from app.coaching.providers import make_chat_model
from app.coaching.store import ChatStore, Turn
from app.coaching.understanding import Reading, Understanding
from app.knowledge.bases import DEFAULT
from app.knowledge.retriever import Hit, Retriever
from app.limits import MAX_ANALYSED_TOKENS
from app.text import analysed_prefix, detect_language

if TYPE_CHECKING:
    from app.container import Container

log = logging.getLogger(__name__)

Status = Literal["answered", "out_of_scope", "refused"]
LEAD_TAG = re.compile(r"\[([a-z0-9.-]+)\]")
MAX_CITATIONS = 3
MIN_CITATIONS = 2
COMPLEMENT = {"caution": "standard", "standard": "caution"}
# A hit is worth citing when its fused score is at least this share of the best hit's.
RELATIVE_CUTOFF = 0.6
FOLLOW_UP = re.compile(
    r"^(and|but|what if|what about|how about|then|so|ok|okay|if|still|also|they|he|she|it|that|this)\b|"
    r"\b(they|them|it|that|this|still|again|instead)\b|^(那|那么|如果|要是|还是|可是|但是|然后|他|她|它|这|那个|这个)|"
    r"(还是|仍然|依然|又|那怎么办|怎么办呢|呢[？?]?$)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Citation:
    """A standard an answer rests on."""

    id: str
    title: str
    text: str


@dataclass
class ChatResult:
    """The answer to one chat message."""

    answer: str
    citations: list[Citation]
    language: str
    status: Status
    conversation_id: str
    message_id: str
    degraded: bool = False
    scope: str = "sales"
    hits: list[Hit] = field(default_factory=list, repr=False)

    def public(self) -> dict[str, Any]:
        """Return the fields the chat API exposes."""
        return {
            "answer": self.answer,
            "citations": [c.__dict__ for c in self.citations],
            "language": self.language,
            "status": self.status,
            "conversation_id": self.conversation_id,
            "message_id": self.message_id,
            "degraded": self.degraded,
            "scope": self.scope,
        }


class ChatService:
    """Answers reps' questions from the standards, with or without an LLM."""

    def __init__(self, container: Container) -> None:
        self._container = container
        self.settings = container.settings
        self.store = ChatStore(container.database)
        model = make_chat_model(self.settings)
        self.llm = LLMAnswerer(model, self.settings.prompts_dir, self.settings.llm_timeout_s) if model else None
        self._intent: dict[str, tuple[str, IntentClassifier]] = {}  # per knowledge base: (build, classifier)
        self.understanding = Understanding(container.embedder)

    def _classifier(self, kb: str = DEFAULT) -> IntentClassifier:
        index = self._container.require_retriever(kb).index
        cached = self._intent.get(kb)
        if cached is None or cached[0] != index.build:
            cached = self._intent[kb] = (index.build, IntentClassifier(index.parts[0], index.anchors))
        return cached[1]

    def answer(
        self, text: str, conversation_id: str | None = None, lang: str | None = None, user: str | None = None,
        channel: str = "api", kb: str = DEFAULT,
    ) -> ChatResult:
        """Answer one message from knowledge base `kb` and store the exchange."""
        text = text.strip()
        conversation_id = conversation_id or "conv_" + uuid.uuid4().hex[:20]
        language = lang or detect_language(text)
        history = self.store.history(conversation_id, kb=kb)
        result = self._respond(text, language, history, kb)
        result.conversation_id = conversation_id
        # A sales question the standards do not cover is stored as such, so it reaches the unanswered report.
        stored = "not_covered" if result.scope == "not_covered" else result.status
        result.message_id = self.store.record(
            conversation_id, text, result.answer, language, stored,
            [c.__dict__ for c in result.citations], channel=channel, user=user, kb=kb,
        )
        return result

    def _respond(self, text: str, language: str, history: list[Turn], kb: str = DEFAULT) -> ChatResult:
        retriever = self._container.require_retriever(kb)
        guard = self._classifier(kb).classify(text, vector=None, rules_only=True)
        if guard.intent in ("injection", "unethical"):
            return _fixed("refused", message(guard.intent, language), language, "refused")

        query = self._query(text, history)
        vectors = retriever.embed(query)
        # A follow-up is also read and searched on its own words: embed them once for both.
        own_vectors = retriever.embed(text) if query != text else vectors
        reading = self._read(text, query, vectors, own_vectors, kb, retriever)
        if reading.scope == "refused":
            return _fixed("refused", message("unethical", language), language, "refused")
        if reading.scope in ("not_sales", "not_covered"):
            key = "out_of_scope" if reading.scope == "not_sales" else "not_covered"
            return _fixed("out_of_scope", message(key, language), language, reading.scope)

        ranked = retriever.search_vectors(query, vectors, k=MAX_CITATIONS + 2, lang=language)
        hits = [h for h in ranked if h.score >= RELATIVE_CUTOFF * ranked[0].score][:MAX_CITATIONS] if ranked else []
        previous = next((t.content for t in reversed(history) if t.role == "assistant"), None)
        if query != text and hits:
            # A follow-up asks something new about the same deal: what the new words call for comes first,
            # then what the conversation was about, and the item the last answer led with goes last.
            own = retriever.search_vectors(text, own_vectors, k=2, lang=language)
            led = _lead_id(previous)
            hits = _merge([h for h in own if h.id != led][:1], hits, limit=MAX_CITATIONS)
            hits = [h for h in hits if h.id != led] + [h for h in hits if h.id == led]
        if not hits:
            return _fixed("out_of_scope", message("not_covered", language), language, "not_covered")
        if len(hits) < MIN_CITATIONS and hits[0].kind in COMPLEMENT:
            # One clear winner: round it out with the best item of the other kind in its stage for this question,
            # so that a caution (what to avoid) comes with a standard (what to do), and the other way round.
            other = retriever.search_vectors(query, vectors, k=2, stage=hits[0].stage,
                                             kind=COMPLEMENT[hits[0].kind], lang=language)
            hits = _merge(hits, other, limit=MIN_CITATIONS)

        degraded = False
        if self.llm is not None:
            try:
                standalone = self.llm.rewrite(history, text) if history else text
                if standalone != text and standalone != query:
                    hits = _merge(hits, retriever.search(standalone, k=MAX_CITATIONS, lang=language))
                answer = self.llm.answer(standalone, hits, language, history)
                used = [h for h in hits if h.id in answer.cited]
                note = source_language_note(used, language)
                return _answered(f"{answer.text}\n\n{note}" if note else answer.text, used, language,
                                 degraded=False, hits=hits)
            except LLMFailure as exc:
                log.warning("LLM answer failed, using the offline composer: %s", exc)
                degraded = True
        text_out = compose(hits, language, reading.qtype, previous)
        return _answered(text_out, hits, language, degraded=degraded, hits=hits)

    def _read(
        self, text: str, query: str, vectors: list[Any], own_vectors: list[Any], kb: str = DEFAULT,
        retriever: Retriever | None = None,
    ) -> Reading:
        """Read the message's scope; a follow-up that reads as out of scope alone is read with its context."""
        reading = self._read_scope(text, query, vectors, own_vectors, kb)
        if kb != DEFAULT and reading.scope != "refused":
            # The scope model learned its sales / not-sales / not-covered line on the default standards' world;
            # another base (a shop floor, a help desk) is read against its own items, as without the model.
            return self._read_by_anchors(query, vectors, kb, reading.qtype)
        return reading

    def _read_by_anchors(self, query: str, vectors: list[Any], kb: str, qtype: str = "how_to") -> Reading:
        """Read the scope from the base's own items (titles, do, avoid, hints) against off-topic anchors."""
        intent = self._classifier(kb).classify(query, vector=vectors[0])
        scope = "not_sales" if intent.intent == "off_topic" else (
            "not_covered" if intent.domain < self.settings.min_relevance else "sales")
        return Reading(scope, 0.0, qtype)

    def _read_scope(self, text: str, query: str, vectors: list[Any], own_vectors: list[Any], kb: str) -> Reading:
        if not self.understanding.trained:
            return self._read_by_anchors(query, vectors, kb)
        if query == text:
            return self.understanding.read(vectors)
        alone = self.understanding.read(own_vectors)
        if alone.scope == "sales" or not FOLLOW_UP.search(text):
            return alone
        return self.understanding.read(vectors)

    def _query(self, text: str, history: list[Turn]) -> str:
        """Return the retrieval query: a short or referring follow-up carries the previous question with it."""
        previous = next((t.content for t in reversed(history) if t.role == "user"), None)
        if previous is None:
            return text
        short = len(text.split()) <= 10 if detect_language(text) == "en" else len(text) <= 20
        # Only the start of a query is analysed: keep the previous question short so the follow-up is not cut off.
        previous = analysed_prefix(previous, MAX_ANALYSED_TOKENS // 2)
        return f"{previous}\n{text}" if short or FOLLOW_UP.search(text) else text

    def feedback(self, message_id: str, rating: str, comment: str | None = None, kb: str = DEFAULT) -> None:
        """Record a rep's rating of an answer given from base `kb`."""
        self.store.add_feedback(message_id, rating, comment, kb=kb)

    def conversations(
        self, user: str, channel: str | None = None, limit: int = 50, kb: str = DEFAULT
    ) -> list[dict[str, Any]]:
        """Return a user's past conversations with base `kb`, newest first."""
        return self.store.conversations(user, channel, limit, kb=kb)

    def transcript(self, conversation_id: str, kb: str = DEFAULT) -> dict[str, Any]:
        """Return a conversation's messages, answers with their citations and ratings."""
        return self.store.transcript(conversation_id, kb=kb)

    def stored_answer(self, message_id: str, kb: str = DEFAULT) -> dict[str, Any]:
        """Return one stored answer (for replaying it, e.g. as a stream)."""
        return self.store.message(message_id, kb=kb)

    def unanswered(self, limit: int = 100, kb: str = DEFAULT) -> list[dict[str, Any]]:
        """Return the questions knowledge base `kb` did not serve well."""
        return self.store.unanswered(limit, kb=kb)


def _fixed(status: Status, text: str, language: str, scope: str) -> ChatResult:
    return ChatResult(answer=text, citations=[], language=language, status=status, conversation_id="",
                      message_id="", scope=scope)


def _answered(text: str, used: list[Hit], language: str, degraded: bool, hits: list[Hit]) -> ChatResult:
    return ChatResult(
        answer=text, citations=[Citation(h.id, h.title, h.text) for h in used], language=language,
        status="answered", conversation_id="", message_id="", degraded=degraded, hits=hits,
    )


def _lead_id(answer: str | None) -> str | None:
    """Return the item id the first line of an earlier answer was tagged with."""
    found = LEAD_TAG.search(lead_line(answer)) if answer else None
    return found.group(1) if found else None


def _merge(first: list[Hit], second: list[Hit], limit: int = MAX_CITATIONS) -> list[Hit]:
    seen = {h.id for h in first}
    return (first + [h for h in second if h.id not in seen])[: max(limit, len(first))]


__all__ = ["ChatResult", "ChatService", "Citation", "IntentResult"]

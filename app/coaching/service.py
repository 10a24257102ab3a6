"""The chat service: intent, retrieval with conversation context, an answer (composer or LLM), and storage."""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from app.coaching.chain import Budget, LLMAnswerer, LLMFailure
from app.coaching.composer import compose, lead_line, message, source_language_note
from app.coaching.grounding import Grounder
from app.coaching.intent import IntentClassifier, IntentResult
from app.coaching.providers import make_chat_client
from app.coaching.store import ChatStore, Turn
from app.coaching.support import SupportScorer
from app.coaching.understanding import Reading, Understanding
from app.knowledge.bases import DEFAULT
from app.knowledge.cascade import CascadeRetriever, embed_all
from app.knowledge.retriever import Hit, Retriever
from app.learn.linear import features
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
    # What the LLM path did (for evals and logs, never sent to a client): served | repaired | a fallback reason.
    llm: dict[str, Any] = field(default_factory=dict, repr=False)

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
        client = make_chat_client(self.settings)
        self.llm = None
        if client is not None:
            from app.knowledge.documents import load_knowledge

            known = {item.id for item in load_knowledge(self.settings.knowledge_dir)}
            grounder = Grounder(SupportScorer(container.embedder), known)
            self.llm = LLMAnswerer(client, self.settings.prompts_dir, grounder)
        self._intent: dict[str, tuple[str, IntentClassifier]] = {}  # per knowledge base: (build, classifier)
        self.understanding = Understanding(container.embedder)

    def ensure_ready(self, kb: str = DEFAULT) -> None:
        """Raise the 503 that says how to build the index, before a stream's status line is sent."""
        self._container.require_retriever(kb)

    def _classifier(self, kb: str = DEFAULT) -> IntentClassifier:
        index = self._container.require_retriever(kb).index
        cached = self._intent.get(kb)
        if cached is None or cached[0] != index.build:
            cached = self._intent[kb] = (index.build, IntentClassifier(index.parts[0], index.anchors))
        return cached[1]

    def answer(
        self, text: str, conversation_id: str | None = None, lang: str | None = None, user: str | None = None,
        channel: str = "api", kb: str = DEFAULT, cancel: threading.Event | None = None,
        message_id: str | None = None,
    ) -> ChatResult:
        """Answer one message from knowledge base `kb` and store the exchange (cancel: set when the asker went
        away; message_id: the answer's id, stored once however often the same answer is asked for)."""
        text = text.strip()
        conversation_id = conversation_id or "conv_" + uuid.uuid4().hex[:20]
        language = lang or detect_language(text)
        history = self.store.history(conversation_id, kb=kb)
        planned = self._plan(text, language, history, kb)
        if isinstance(planned, ChatResult):
            result = planned
        else:
            result = self._answer_planned(planned, self._budget(cancel))
        return self._store(result, text, conversation_id, user, channel, kb, message_id)

    def answer_stream(
        self, text: str, conversation_id: str | None = None, lang: str | None = None, user: str | None = None,
        channel: str = "api", cancel: threading.Event | None = None, report: dict[str, Any] | None = None,
        kb: str = DEFAULT,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield (event, data): `delta` text as the model writes it, `replace` when the checks change the answer,
        then `done` with the stored result's public fields (minus the answer). `report` (for evals) receives what
        the LLM path did, raw model output included; it never goes to a client."""
        text = text.strip()
        conversation_id = conversation_id or "conv_" + uuid.uuid4().hex[:20]
        language = lang or detect_language(text)
        history = self.store.history(conversation_id, kb=kb)
        planned = self._plan(text, language, history, kb)
        if isinstance(planned, ChatResult) or self.llm is None:
            result = planned if isinstance(planned, ChatResult) else self._answer_planned(planned, None)
            for piece in re.findall(r"[^\n]*\n|[^\n]+$", result.answer):
                yield "delta", {"text": piece}
        else:
            budget = self._budget(cancel)
            shown: list[str] = []
            raw: list[str] = []
            started = time.monotonic()
            try:
                standalone, hits = self._standalone(planned, budget)
                first = True
                for piece in self.llm.stream(standalone, hits, language, history, budget, raw):
                    if piece:
                        if first:
                            planned.timings["first_token_s"] = round(time.monotonic() - started, 3)
                            first = False
                        shown.append(piece)
                        yield "delta", {"text": piece}
                checked = self.llm.finish(raw[0] if raw else "", standalone, hits, language, planned.previous)
                used = [h for h in hits if h.id in checked.cited]
                note = source_language_note(used, language)
                result = _answered(f"{checked.text}\n\n{note}" if note else checked.text, used, language,
                                   degraded=False, hits=hits)
                result.llm = {"outcome": checked.grounded.reason, "raw": checked.raw,
                              "checked": checked.grounded.checked, "supported": checked.grounded.supported}
            except LLMFailure as exc:
                log.warning("LLM answer failed, using the offline composer: %s", exc)
                result = self._offline(planned, degraded=True)
                result.llm = {"outcome": "fallback", "reason": exc.reason, "raw": raw[0] if raw else ""}
            result.llm.update(planned.timings, total_s=round(time.monotonic() - started, 3))
            if _norm(result.answer) != _norm("".join(shown)):
                yield "replace", {"text": result.answer, "reason": result.llm.get("reason") or "repaired"}
        result = self._store(result, text, conversation_id, user, channel, kb)
        if report is not None:
            report.update(result.llm, answer=result.answer)
        yield "done", {k: v for k, v in result.public().items() if k != "answer"}

    def _budget(self, cancel: threading.Event | None) -> Budget:
        budget = Budget(self.settings.llm_budget_s)
        if cancel is not None:
            budget.cancel = cancel
        return budget

    def _store(
        self, result: ChatResult, text: str, conversation_id: str, user: str | None, channel: str,
        kb: str = DEFAULT, message_id: str | None = None,
    ) -> ChatResult:
        result.conversation_id = conversation_id
        # A sales question the standards do not cover is stored as such, so it reaches the unanswered report.
        stored = "not_covered" if result.scope == "not_covered" else result.status
        result.message_id = self.store.record(
            conversation_id, text, result.answer, result.language, stored,
            [c.__dict__ for c in result.citations], channel=channel, user=user, kb=kb, answer_id=message_id,
        )
        return result

    def _plan(self, text: str, language: str, history: list[Turn], kb: str = DEFAULT) -> ChatResult | _Plan:
        """Read and retrieve: a fixed reply (refused, out of scope), or what an answer is to be built from."""
        retriever = self._container.require_retriever(kb)
        guard = self._classifier(kb).classify(text, vector=None, rules_only=True)
        if guard.intent in ("injection", "unethical"):
            return _fixed("refused", message(guard.intent, language), language, "refused")

        query = self._query(text, history)
        vectors = self._vectors(retriever, query) if query == text and kb == DEFAULT else embed_all(retriever, query)
        # A follow-up is also read and searched on its own words: embed them once for both.
        own_vectors = embed_all(retriever, text) if query != text else vectors
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

        return _Plan(text, language, history, query, hits, previous, reading.qtype, kb)

    def _vectors(self, retriever: Retriever, query: str) -> list[Any]:
        """Return the first model's vectors alone when they settle both the scope and the ranking, else every model's.

        The cascade reads a question with the cheap model only when its scope model is sure it is a sales question
        (a threshold calibrated on held-out folds of the training questions, `sure_sales`) and the cheap ranking is
        decisive; anything else (a request to refuse, a work question, a close ranking) is read with every model:
        with the cheap vectors for every question, refused recall fell from 0.92 to 0.83 on the blind chat set.
        """
        cheap_scope = self.understanding.cheap.scope if self.understanding.cheap is not None else None
        if not isinstance(retriever, CascadeRetriever) or cheap_scope is None:
            return embed_all(retriever, query)
        vectors = retriever.embed_cheap(query)
        sales = float(cheap_scope.scores(features(vectors))[0][cheap_scope.labels.index("sales")])
        if sales >= float(str(cheap_scope.meta.get("sure_sales", 1.01))) and \
                retriever.lead(query, vectors) >= retriever.margin:
            return vectors
        return retriever.complete(query, vectors)

    def _standalone(self, plan: _Plan, budget: Budget) -> tuple[str, list[Hit]]:
        """Return the question the model answers (a checked rewrite of a follow-up) and the hits it answers from."""
        assert self.llm is not None
        if not plan.history:
            return plan.text, plan.hits
        started = time.monotonic()
        standalone = self.llm.rewrite(plan.history, plan.text, budget)
        plan.timings["rewrite_s"] = round(time.monotonic() - started, 3)
        if self.llm.last_rewrite_rejected:
            plan.timings["rewrite_rejected"] = self.llm.last_rewrite_rejected
        hits = plan.hits
        if standalone != plan.text and standalone != plan.query:
            retriever = self._container.require_retriever(plan.kb)
            hits = _merge(hits, retriever.search(standalone, k=MAX_CITATIONS, lang=plan.language))
        return standalone, hits

    def _answer_planned(self, plan: _Plan, budget: Budget | None) -> ChatResult:
        if self.llm is None or budget is None:
            return self._offline(plan, degraded=False)
        started = time.monotonic()
        try:
            standalone, hits = self._standalone(plan, budget)
            answer = self.llm.answer(standalone, hits, plan.language, plan.history, budget, plan.previous)
        except LLMFailure as exc:
            log.warning("LLM answer failed, using the offline composer: %s", exc)
            result = self._offline(plan, degraded=True)
            result.llm = {"outcome": "fallback", "reason": exc.reason, **plan.timings}
        else:
            used = [h for h in hits if h.id in answer.cited]
            note = source_language_note(used, plan.language)
            result = _answered(f"{answer.text}\n\n{note}" if note else answer.text, used, plan.language,
                               degraded=False, hits=hits)
            result.llm = {"outcome": answer.grounded.reason, "raw": answer.raw, "checked": answer.grounded.checked,
                          "supported": answer.grounded.supported, **plan.timings}
        result.llm["total_s"] = round(time.monotonic() - started, 3)
        return result

    def _offline(self, plan: _Plan, degraded: bool) -> ChatResult:
        text_out = compose(plan.hits, plan.language, plan.qtype, plan.previous)
        return _answered(text_out, plan.hits, plan.language, degraded=degraded, hits=plan.hits)

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


@dataclass
class _Plan:
    """What an answer is built from, once the message is read and the items retrieved."""

    text: str
    language: str
    history: list[Turn]
    query: str
    hits: list[Hit]
    previous: str | None
    qtype: str
    kb: str = DEFAULT
    timings: dict[str, Any] = field(default_factory=dict)


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


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

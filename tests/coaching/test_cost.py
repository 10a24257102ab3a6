"""The work per request is bounded: a 4,000-character message costs about what a short one does."""

from __future__ import annotations

import statistics
import time

import app.knowledge.retriever as retriever_module
from app.limits import MAX_ANALYSED_TOKENS, MAX_MESSAGE_CHARS
from app.text import analysed_prefix

SHORT = "客户说我们比竞品贵20%，要不要打折？"
LONG = (SHORT * (MAX_MESSAGE_CHARS // len(SHORT) + 1))[:MAX_MESSAGE_CHARS]


def test_a_long_message_embeds_and_tokenises_only_a_bounded_prefix(client, monkeypatch):
    seen: list[int] = []
    real_tokenize = retriever_module.tokenize
    monkeypatch.setattr(retriever_module, "tokenize", lambda text: seen.append(len(text)) or real_tokenize(text))
    for part in client.app.state.container.index.parts:
        real = part.embed_query
        monkeypatch.setattr(part, "embed_query", lambda text, real=real: seen.append(len(text)) or real(text))
    response = client.post("/v1/chat", json={"message": LONG})
    assert response.status_code == 200
    assert seen and max(seen) == len(analysed_prefix(LONG, MAX_ANALYSED_TOKENS)) < 100


def test_a_long_chinese_message_costs_about_what_a_short_one_does(client):
    service = client.app.state.container.chat

    def cost(message: str) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            service.answer(message)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    cost(SHORT)  # warm
    assert cost(LONG) < 5 * cost(SHORT)  # it was about 47 times

"""The one place that maps COACH_LLM to a LangChain chat model."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from app.config import Settings
from app.errors import ConfigError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from app.coaching.llm_client import ChatClient


def _openai(settings: Settings) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed"
    return ChatOpenAI(
        model=settings.llm_model, base_url=settings.llm_base_url, api_key=key,  # type: ignore[arg-type]
        timeout=settings.llm_timeout_s, max_retries=0, temperature=0.3,
    )


def _ollama(settings: Settings) -> BaseChatModel:
    from langchain_ollama import ChatOllama

    return ChatOllama(
        model=settings.llm_model, base_url=settings.llm_base_url or "http://127.0.0.1:11434",
        temperature=0.3, client_kwargs={"timeout": settings.llm_timeout_s},
    )


PROVIDERS: dict[str, Callable[[Settings], BaseChatModel]] = {"openai": _openai, "ollama": _ollama}


def make_chat_client(settings: Settings) -> ChatClient | None:
    """Return a streaming client for the configured model's OpenAI-compatible endpoint, or None without an LLM."""
    from app.coaching.llm_client import ChatClient

    if settings.llm == "none":
        return None
    make_chat_model(settings)  # the same configuration errors, said once
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    if settings.llm == "ollama":  # Ollama serves the OpenAI API under /v1
        base = (settings.llm_base_url or "http://127.0.0.1:11434").rstrip("/")
        return ChatClient(base if base.endswith("/v1") else base + "/v1", settings.llm_model, key)
    return ChatClient(settings.llm_base_url or "https://api.openai.com/v1", settings.llm_model, key)


def make_chat_model(settings: Settings) -> BaseChatModel | None:
    """Return the configured chat model, or None when COACH_LLM=none."""
    if settings.llm == "none":
        return None
    if settings.llm == "openai" and not settings.llm_base_url and settings.llm_api_key is None:
        raise ConfigError(
            "COACH_LLM=openai needs COACH_LLM_API_KEY (or COACH_LLM_BASE_URL for a local OpenAI-compatible server)"
        )
    try:
        return PROVIDERS[settings.llm](settings)
    except KeyError as exc:
        raise ConfigError(f"unknown COACH_LLM {settings.llm!r}; use none, openai or ollama") from exc

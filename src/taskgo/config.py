"""Application settings, read from the environment and an optional `.env` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["dev", "test", "production"]


class Settings(BaseSettings):
    """Every setting of the service. Environment variables use the upper-case field name."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # --- core ---
    environment: Environment = "dev"
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL; when unset an embedded server runs with data in PGDATA_DIR.",
    )
    pgdata_dir: Path = Path("var/pgdata")
    redis_url: str | None = None
    log_json: bool | None = Field(
        default=None, description="JSON logs; defaults to on outside the dev environment."
    )
    log_level: str = "INFO"
    public_base_url: str = "http://127.0.0.1:8000"
    default_locale: str = "pt_BR"

    # --- auth ---
    auth_provider: Literal["firebase", "dev"] = "dev"
    firebase_project_id: str = "taskgo-dev"
    firebase_keys_url: str = (
        "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
    )
    auth_clock_skew_seconds: int = Field(default=60, ge=0, le=60)
    auth_key_refetch_interval_seconds: float = Field(default=30.0, ge=0)
    dev_signing_key_path: Path = Path("var/dev-signing-key.pem")
    dev_token_ttl_seconds: int = Field(default=3600, ge=60)

    # --- encryption of documents, account numbers and PIX keys ---
    field_encryption_keys: str = Field(
        default="",
        description="Comma-separated KEY_ID:BASE64_32_BYTES; the first key encrypts.",
    )

    # --- money ---
    platform_fee_bps: int = Field(default=500, ge=0, le=10_000)

    # --- jobs ---
    jobs_queue: str = "default"

    # --- domain settings (one block per domain) ---

    # --- uploads and identity verification ---
    storage_url: str | None = Field(
        default=None,
        description=(
            "Where uploads are stored: a directory (`file:var/uploads`, the default) or "
            "`s3://BUCKET/PREFIX?endpoint=URL&region=REGION` for an S3-compatible bucket."
        ),
    )
    verification_image_retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Days after an admin's decision before selfie and document images are deleted.",
    )

    # --- support ---
    ai_provider: Literal["openai", "offline"] = Field(
        default="offline",
        description="`openai` calls OPENAI_BASE_URL; `offline` answers from the help corpus.",
    )
    # Kept out of repr() so that logging the settings never prints the key.
    openai_api_key: str | None = Field(default=None, repr=False)
    openai_base_url: str = "https://api.openai.com/v1"
    openai_model: str = "gpt-4o-mini"
    openai_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Time limit for one model request, in seconds."
    )
    openai_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    openai_max_attempts: int = Field(
        default=3, ge=1, le=10, description="Attempts per model request, the first included."
    )
    openai_backoff_base_seconds: float = Field(default=0.5, ge=0)
    openai_backoff_max_seconds: float = Field(
        default=8.0,
        ge=0,
        description="Longest wait between attempts; a longer Retry-After ends the retries.",
    )
    openai_max_output_tokens: int = Field(default=700, ge=16)
    openai_max_tokens_param: Literal["max_completion_tokens", "max_tokens"] = Field(
        default="max_completion_tokens",
        description="Older OpenAI-compatible servers only accept `max_tokens`.",
    )
    support_context_token_budget: int = Field(
        default=6000, ge=1000, description="Estimated prompt tokens per model request."
    )
    support_max_message_chars: int = Field(
        default=4000, ge=200, description="Longer messages (pasted text) are cut to this size."
    )
    support_max_request_chars: int = Field(
        default=50_000, ge=200, description="Messages longer than this are rejected."
    )
    support_max_tool_rounds: int = Field(default=4, ge=1, le=10)
    support_rate_limit_messages: int = Field(
        default=10, ge=1, description="Messages one user may send per rate-limit window."
    )
    support_rate_limit_window_seconds: int = Field(default=60, ge=1)
    support_daily_token_budget: int = Field(
        default=60_000,
        ge=1000,
        description="Model tokens one user may spend per America/Sao_Paulo calendar day.",
    )

    @model_validator(mode="after")
    def _check_support_budget(self) -> Settings:
        # The system prompt, tool schemas, the reply and one message of the maximum size
        # must fit, or the latest message could never be sent whole.
        needed = self.openai_max_output_tokens + self.support_max_message_chars // 2 + 1500
        if self.support_context_token_budget < needed:
            raise ValueError(
                f"SUPPORT_CONTEXT_TOKEN_BUDGET must be at least {needed} for the current "
                "SUPPORT_MAX_MESSAGE_CHARS and OPENAI_MAX_OUTPUT_TOKENS"
            )
        return self

    @field_validator("firebase_project_id")
    @classmethod
    def _strip_project_id(cls, value: str) -> str:
        value = value.strip()
        if not value or any(ch.isspace() for ch in value) or len(value) > 128:
            raise ValueError(
                "FIREBASE_PROJECT_ID must be a non-empty project id without spaces"
            )
        return value

    @model_validator(mode="after")
    def _check_dev_auth(self) -> Settings:
        if self.environment == "production" and self.auth_provider == "dev":
            raise ValueError("AUTH_PROVIDER=dev is not allowed when ENVIRONMENT=production")
        return self

    @property
    def json_logs(self) -> bool:
        if self.log_json is not None:
            return self.log_json
        return self.environment != "dev"

    @property
    def dev_mode(self) -> bool:
        return self.auth_provider == "dev"


@lru_cache
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Drop the cached settings so the next `get_settings()` reads the environment again."""
    get_settings.cache_clear()

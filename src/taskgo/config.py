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

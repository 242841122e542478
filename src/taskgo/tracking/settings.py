"""Settings of shipment tracking, read from the environment and `.env`."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from taskgo.tracking.client import (
    HOMOLOGATION_BASE_URL,
    MAX_CODES_PER_REQUEST,
    PRODUCTION_BASE_URL,
)


class TrackingSettings(BaseSettings):
    """Environment variables use the upper-case field name (`TRACKING_PROVIDER`, ...)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    tracking_provider: Literal["correios", "manual"] = Field(
        default="manual",
        description="`correios` polls SRO Rastro; `manual` lets sellers and admins post events.",
    )
    correios_environment: Literal["production", "homologation"] = Field(
        default="production", description="Correios API host: production or homologation."
    )
    correios_base_url: str | None = Field(
        default=None,
        description="Overrides the host picked by CORREIOS_ENVIRONMENT (stand-ins, proxies).",
    )
    correios_user: str = Field(default="", description="Correios API user (Meu Correios).")
    correios_access_code: SecretStr = Field(
        default=SecretStr(""), description="Correios API access code."
    )
    correios_postal_card: str = Field(
        default="", description="Postal card (cartão de postagem) number for the token."
    )
    correios_timeout_seconds: float = Field(
        default=15.0, gt=0, description="Time limit for one Correios request, in seconds."
    )

    tracking_poll_cron: str = Field(
        default="0 * * * *", description="When the poller runs (cron syntax, server time)."
    )
    tracking_batch_size: int = Field(
        default=MAX_CODES_PER_REQUEST,
        ge=1,
        le=MAX_CODES_PER_REQUEST,
        description="Tracking codes per SRO request.",
    )
    tracking_requests_per_second: float = Field(
        default=2.0, gt=0, description="Limit on all requests to Correios from this process."
    )
    tracking_request_burst: int = Field(
        default=2, ge=1, description="Requests the rate limiter lets through at once."
    )
    tracking_max_attempts: int = Field(
        default=4, ge=1, le=10, description="Attempts per batch after 429 or 5xx, first included."
    )
    tracking_backoff_base_seconds: float = Field(
        default=2.0, ge=0, description="First wait after a 429 or 5xx; it doubles per retry."
    )
    tracking_backoff_max_seconds: float = Field(
        default=60.0, ge=0, description="Longest wait between retries, in seconds."
    )
    tracking_run_budget_seconds: float = Field(
        default=45 * 60.0, gt=0, description="A poll run stops starting batches after this long."
    )
    tracking_alert_after_failures: int = Field(
        default=3, ge=1, description="Failed poll runs in a row before admins are alerted."
    )
    tracking_failure_pause_max_minutes: int = Field(
        default=6 * 60,
        ge=0,
        description="Maximum pause between poll runs after failures, in minutes.",
    )
    tracking_not_found_grace_hours: int = Field(
        default=72,
        ge=1,
        description="How long SRO may report a shipped object as not found before the seller "
        "is warned. Correios often registers a parcel hours after it is handed in.",
    )

    @model_validator(mode="after")
    def _check_correios(self) -> TrackingSettings:
        if self.tracking_provider == "correios":
            missing = [
                name
                for name, value in (
                    ("CORREIOS_USER", self.correios_user),
                    ("CORREIOS_ACCESS_CODE", self.correios_access_code.get_secret_value()),
                    ("CORREIOS_POSTAL_CARD", self.correios_postal_card),
                )
                if not value
            ]
            if missing:
                raise ValueError(
                    "TRACKING_PROVIDER=correios needs " + ", ".join(missing) + " to be set"
                )
        return self

    @property
    def resolved_correios_base_url(self) -> str:
        if self.correios_base_url:
            return self.correios_base_url.rstrip("/")
        if self.correios_environment == "homologation":
            return HOMOLOGATION_BASE_URL
        return PRODUCTION_BASE_URL


@lru_cache
def get_tracking_settings() -> TrackingSettings:
    return TrackingSettings()


def reset_tracking_settings() -> None:
    get_tracking_settings.cache_clear()

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
    environment: Environment = Field(
        default="dev", description="`dev`, `test` or `production` (production forbids dev auth)."
    )
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL; when unset an embedded server runs with data in PGDATA_DIR.",
    )
    database_pool_pre_ping: bool = Field(
        default=False,
        description=(
            "Test each pooled connection with a round trip before use. Off by default: a "
            "connection that died answers one request with 503 `request.database_unavailable` "
            "and the pool then replaces every older connection."
        ),
    )
    database_pool_size: int = Field(
        default=20,
        ge=1,
        le=500,
        description=(
            "Database connections each process keeps open. Requests beyond it wait for a free "
            "one. Keep processes × this below PostgreSQL's `max_connections`."
        ),
    )
    database_pool_overflow: int = Field(
        default=0,
        ge=0,
        le=500,
        description=(
            "Extra connections opened for a burst beyond the pool and closed when returned. "
            "0 by default: opening one costs a fork and statement preparation in PostgreSQL, "
            "and connections opened and closed in a burst stalled the requests behind them."
        ),
    )
    database_pool_timeout: float = Field(
        default=10.0,
        gt=0,
        description=(
            "Seconds a request waits for a free connection before a 503 "
            "`request.server_busy` with Retry-After."
        ),
    )
    gc_young_threshold: int = Field(
        default=50_000,
        ge=100,
        le=10_000_000,
        description=(
            "Net new objects between the garbage collector's young collections (Python's "
            "default is 700). Raised so that the objects of requests in flight die before a "
            "collection promotes them, which made full collections rare; see "
            "`docs/benchmarks.md`."
        ),
    )
    pgdata_dir: Path = Field(
        default=Path("var/pgdata"), description="Data folder of the embedded PostgreSQL."
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis for Socket.IO fan-out across API processes; unset = in-process only.",
    )
    log_json: bool | None = Field(
        default=None, description="JSON logs; unset = on outside the dev environment."
    )
    log_level: str = Field(default="INFO", description="Minimum log level.")
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description=(
            "Address the apps use to reach this server, for links in pages and e-mails. When "
            "unset, `taskgo serve` and `taskgo dev` use the address and port they listen on "
            "(127.0.0.1 for 0.0.0.0), and other commands use the default."
        ),
    )

    # --- auth ---
    auth_provider: Literal["firebase", "dev"] = Field(
        default="dev",
        description="`firebase` verifies Firebase ID tokens; `dev` signs local tokens "
        "and adds POST /api/auth/dev/token.",
    )
    firebase_project_id: str = Field(
        default="taskgo-dev",
        description="Firebase project id: the tokens' `aud` and issuer suffix.",
    )
    firebase_keys_url: str = Field(
        default=(
            "https://www.googleapis.com/robot/v1/metadata/x509/"
            "securetoken@system.gserviceaccount.com"
        ),
        description="Google's x509 certificates for ID tokens, cached for their max-age.",
    )
    auth_clock_skew_seconds: int = Field(
        default=60, ge=0, le=60, description="Clock skew allowed on exp, iat and auth_time (s)."
    )
    auth_key_refetch_interval_seconds: float = Field(
        default=30.0, ge=0, description="Minimum seconds between key refetches for unknown kids."
    )
    dev_signing_key_path: Path = Field(
        default=Path("var/dev-signing-key.pem"), description="RSA key of the dev token issuer."
    )
    dev_token_ttl_seconds: int = Field(
        default=3600, ge=60, description="Lifetime of dev tokens (s)."
    )

    # --- encryption of documents, account numbers and PIX keys ---
    field_encryption_keys: str = Field(
        default="",
        description="Comma-separated KEY_ID:BASE64_32_BYTES; the first key encrypts.",
    )

    # --- money ---
    platform_fee_bps: int = Field(
        default=500, ge=0, le=10_000, description="Platform fee in basis points (500 = 5 %)."
    )

    # --- domain settings (one block per domain) ---

    # --- geo and locations ---
    geo_max_distance_km: float = Field(
        default=50.0,
        gt=0,
        le=200,
        description="Farthest municipal seat (km) a GPS fix may resolve to.",
    )
    location_max_accuracy_m: float = Field(
        default=1000.0,
        gt=0,
        description="Fixes less accurate than this (metres) never change the city.",
    )
    location_switch_margin_km: float = Field(
        default=2.0,
        ge=0,
        description="How much nearer (km) the new seat must be to switch at once.",
    )
    location_switch_confirmations: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Consecutive fixes in a new city that switch without the margin.",
    )

    # --- service orders and notifications ---
    service_order_expiry_days: int = Field(
        default=7, ge=1, le=90, description="Days an open service order waits for a partner."
    )
    push_provider: Literal["fcm", "log"] = Field(
        default="log", description="`fcm` sends through FCM HTTP v1; `log` only logs each push."
    )
    fcm_project_id: str | None = Field(
        default=None, description="Firebase project of the pushes; default: the key's project_id."
    )
    fcm_service_account_file: Path | None = Field(
        default=None, description="Service account JSON key file for FCM."
    )
    fcm_service_account_json: str | None = Field(
        default=None, repr=False, description="The service account JSON key itself."
    )
    fcm_base_url: str = "https://fcm.googleapis.com"
    fcm_token_uri: str | None = Field(
        default=None, description="OAuth2 token endpoint; default: the key's token_uri."
    )
    fcm_ca_file: Path | None = Field(
        default=None, description="PEM CA bundle for FCM and its token endpoint."
    )
    fcm_max_concurrency: int = Field(
        default=100, ge=1, le=1000, description="FCM requests in flight at once, per process."
    )
    fcm_connections: int = Field(
        default=2, ge=1, le=32, description="HTTP/2 connections to FCM that share those requests."
    )
    fcm_max_attempts: int = Field(default=5, ge=1, le=10)
    fcm_retry_base_seconds: float = Field(default=1.0, gt=0)
    fcm_retry_max_seconds: float = Field(default=60.0, gt=0)
    fcm_max_inline_wait_seconds: float = Field(
        default=30.0, ge=0, description="Longer waits end the job run and reschedule the push."
    )
    fcm_timeout_seconds: float = Field(default=10.0, gt=0)

    # --- purchases and payments ---
    payments_provider: Literal["stripe", "local"] | None = Field(
        default=None,
        description="`stripe` or the `local` simulator; unset means stripe when "
        "STRIPE_SECRET_KEY is set, else local.",
    )
    stripe_secret_key: str = Field(
        default="", repr=False, description="Stripe secret key (sk_...); set it to use Stripe."
    )
    stripe_webhook_secret: str = Field(
        default="", repr=False, description="Signing secret (whsec_...) of the Stripe webhook."
    )
    stripe_api_base: str = Field(
        default="https://api.stripe.com", description="Stripe API base URL (a stand-in in tests)."
    )
    stripe_timeout_seconds: float = Field(
        default=20.0, gt=0, description="Time limit for one Stripe request, in seconds."
    )
    stripe_max_network_retries: int = Field(
        default=2, ge=0, le=5, description="Retries of a failed Stripe request by the SDK."
    )
    stripe_connect_country: str = Field(
        default="BR",
        min_length=2,
        max_length=2,
        description="Country of the partners' Connect Express accounts.",
    )
    payments_capture_at_authorization: bool = Field(
        default=False,
        description="Capture as soon as the card is authorized instead of before the "
        "authorization expires; the money is held on the platform either way.",
    )
    payments_capture_margin_hours: int = Field(
        default=24,
        ge=1,
        le=120,
        description="Capture this many hours before the charge's capture_before.",
    )
    payments_authorization_validity_hours: int = Field(
        default=120,
        ge=24,
        le=720,
        description="Assumed authorization lifetime when the charge reports no "
        "capture_before (Visa merchant-initiated holds last 5 days).",
    )
    purchase_payment_timeout_minutes: int = Field(
        default=60, ge=5, description="Unpaid purchases are canceled and their stock restored."
    )
    purchase_ship_within_days: int = Field(
        default=7, ge=1, description="Paid purchases not shipped in time are canceled and refunded."
    )
    purchase_auto_release_days: int = Field(
        default=7, ge=1, description="Days after delivery before the escrow is released."
    )
    connect_return_url: str | None = Field(
        default=None, description="Where Stripe onboarding returns; default under PUBLIC_BASE_URL."
    )

    @property
    def effective_payments_provider(self) -> Literal["stripe", "local"]:
        if self.payments_provider is not None:
            return self.payments_provider
        return "stripe" if self.stripe_secret_key else "local"

    @model_validator(mode="after")
    def _check_payments(self) -> Settings:
        if self.effective_payments_provider == "stripe" and not (
            self.stripe_secret_key and self.stripe_webhook_secret
        ):
            raise ValueError(
                "PAYMENTS_PROVIDER=stripe needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET"
            )
        return self

    # --- uploads and identity verification ---
    storage_url: str | None = Field(
        default=None,
        description=(
            "Where uploads are stored: a directory (`file:var/uploads`, the default) or "
            "`s3://BUCKET/PREFIX?endpoint=URL&region=REGION` for an S3-compatible bucket."
        ),
    )
    upload_decode_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description=(
            "Uploaded images decoded at once per process; further uploads wait for a free "
            "slot. Unset means the CPU count, at most 4. One decode of a 50-megapixel image "
            "takes up to about 600 MB, so budget this × 600 MB of memory per process."
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
        description="`openai` calls OPENAI_BASE_URL; `offline` replies from the help corpus.",
    )
    # Kept out of repr() so that logging the settings never prints the key.
    openai_api_key: str | None = Field(
        default=None, repr=False, description="API key of the OpenAI-compatible server."
    )
    openai_base_url: str = Field(
        default="https://api.openai.com/v1", description="Any OpenAI-compatible API base URL."
    )
    openai_model: str = Field(default="gpt-4o-mini", description="Chat model name.")
    openai_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Time limit for one model request, in seconds."
    )
    openai_connect_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Time limit to connect to the model server, in seconds."
    )
    openai_max_attempts: int = Field(
        default=3, ge=1, le=10, description="Attempts per model request, the first included."
    )
    openai_backoff_base_seconds: float = Field(
        default=0.5, ge=0, description="First wait before a retry; it doubles per attempt."
    )
    openai_backoff_max_seconds: float = Field(
        default=8.0,
        ge=0,
        description="Maximum wait between attempts; a longer Retry-After ends the retries.",
    )
    openai_max_output_tokens: int = Field(
        default=700, ge=16, description="Maximum tokens of one assistant reply."
    )
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
    support_max_tool_rounds: int = Field(
        default=4, ge=1, le=10, description="Maximum tool calls the model may chain per reply."
    )
    support_rate_limit_messages: int = Field(
        default=10, ge=1, description="Messages one user may send per rate-limit window."
    )
    support_rate_limit_window_seconds: int = Field(
        default=60, ge=1, description="Length of the support rate-limit window, in seconds."
    )
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
            raise ValueError("FIREBASE_PROJECT_ID must be a non-empty project id without spaces")
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


# Addresses that accept connections on every interface but that no client can connect to.
_WILDCARD_HOSTS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104


def listening_base_url(host: str, port: int) -> str:
    """Build the URL of a server listening on ``host`` and ``port``, for links to itself.

    A wildcard address becomes the loopback address of its family, which reaches the server
    from this machine only. Links for other machines need PUBLIC_BASE_URL.
    """
    host = _WILDCARD_HOSTS.get(host, host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address, bracketed as in any URL
    return f"http://{host}:{port}"


@lru_cache
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Drop the cached settings so the next `get_settings()` reads the environment again."""
    get_settings.cache_clear()

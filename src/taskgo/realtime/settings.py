"""Settings of the realtime layer and the chat, read from the environment (and ``.env``)."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from taskgo.config import get_settings


class RealtimeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    chat_rate_burst: int = Field(
        default=20,
        ge=1,
        description=(
            "New chat messages a user may send in a burst, shared by all of the user's sockets "
            "and, with Redis, by all server processes."
        ),
    )
    chat_rate_per_second: float = Field(
        default=1.0, gt=0, description="Refill rate of the chat message bucket, per second."
    )
    chat_control_rate_burst: int = Field(
        default=60,
        ge=1,
        description=(
            "Burst of `join_conversation` and `messages_read` (socket and HTTP) per user, "
            "also paid by a resend of a message already stored and by the look-up of a "
            "message past the message rate. An app that opens with many "
            "order chats joins each at once."
        ),
    )
    chat_control_rate_per_second: float = Field(
        default=10.0, gt=0, description="Refill rate of the chat control bucket, per second."
    )
    presence_lease_seconds: int = Field(
        default=60,
        ge=3,
        description=(
            "Seconds a connected socket counts as present without a renewal. A process that "
            "dies stops renewing, so its sockets stop counting after this lease."
        ),
    )
    token_expiry_warning_seconds: int = Field(
        default=60,
        ge=0,
        description=(
            "Seconds before the token expires at which the server sends `session_expiring`, "
            "so the client can send `reauthenticate` with a fresh token in time."
        ),
    )


@lru_cache
def realtime_settings() -> RealtimeSettings:
    return RealtimeSettings()


def reset_realtime_settings() -> None:
    """Drop the cached settings so the next call reads the environment again (tests)."""
    realtime_settings.cache_clear()


def redis_url() -> str | None:
    """``REDIS_URL`` from the application settings; None means a single process."""
    return get_settings().redis_url

"""Settings of the realtime layer and the chat, read from the environment (and ``.env``)."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from taskgo.config import get_settings


class RealtimeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Token bucket per user for new chat messages, shared by all of the user's sockets and,
    # with Redis, by all server processes: bursts of up to `chat_rate_burst` messages,
    # refilled at `chat_rate_per_second`.
    chat_rate_burst: int = Field(default=20, ge=1)
    chat_rate_per_second: float = Field(default=1.0, gt=0)
    # The same for `join_conversation`, `leave_conversation` and `messages_read` (socket and
    # HTTP). An app that opens with many order chats joins each of them at once.
    chat_control_rate_burst: int = Field(default=60, ge=1)
    chat_control_rate_per_second: float = Field(default=10.0, gt=0)

    # How long a connected socket counts as present without a renewal, in seconds. A process
    # that dies stops renewing, so its sockets stop counting after this lease.
    presence_lease_seconds: int = Field(default=60, ge=3)

    # Seconds before the token expires at which the server sends `session_expiring`, so the
    # client can send `reauthenticate` with a fresh token in time.
    token_expiry_warning_seconds: int = Field(default=60, ge=0)


@lru_cache
def realtime_settings() -> RealtimeSettings:
    return RealtimeSettings()


def reset_realtime_settings() -> None:
    """Drop the cached settings so the next call reads the environment again (tests)."""
    realtime_settings.cache_clear()


def redis_url() -> str | None:
    """``REDIS_URL`` from the application settings; None means a single process."""
    return get_settings().redis_url

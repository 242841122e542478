"""Settings of the realtime layer and the chat, read from the environment (and ``.env``)."""

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class RealtimeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Unset means one process: rooms and emits stay in memory.
    redis_url: str | None = None

    # Token bucket per user for `send_message`, shared by all of the user's sockets and, with
    # Redis, by all server processes: a burst of `chat_rate_burst` messages, refilled at
    # `chat_rate_per_second`.
    chat_rate_burst: int = 20
    chat_rate_per_second: float = 1.0

    # How long a connected socket counts as present without a refresh, in seconds. A process
    # that dies stops refreshing, so its sockets stop counting after this lease.
    presence_lease_seconds: int = 60

    # Seconds before token expiry at which the server sends `session_expiring`, so the client
    # can send `reauthenticate` with a fresh token in time.
    token_expiry_warning_seconds: int = 60


@lru_cache
def realtime_settings() -> RealtimeSettings:
    return RealtimeSettings()

from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from taskgo.config import reset_settings
from taskgo.realtime.redis_client import close_redis
from taskgo.realtime.settings import reset_realtime_settings
from tests.realtime.fixtures import connect_socket, live_chat, socket_server, token_for

__all__ = ["connect_socket", "live_chat", "roomy_buckets", "socket_server", "token_for"]

REDIS_URL = "redis://127.0.0.1:6379/0"


def _message_rate(
    monkeypatch: pytest.MonkeyPatch, *, burst: int, per_second: int
) -> Iterator[None]:
    monkeypatch.setenv("CHAT_RATE_BURST", str(burst))
    monkeypatch.setenv("CHAT_RATE_PER_SECOND", str(per_second))
    reset_realtime_settings()
    yield
    monkeypatch.undo()
    reset_realtime_settings()


@pytest.fixture
def roomy_buckets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Raise the chat's message rate limit far above what a storage test sends."""
    yield from _message_rate(monkeypatch, burst=100_000, per_second=100_000)


@pytest.fixture
def small_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Lower the chat's message rate limit to a burst of 3 and 2 messages per second."""
    yield from _message_rate(monkeypatch, burst=3, per_second=2)


@pytest.fixture
async def with_redis(monkeypatch: pytest.MonkeyPatch, small_bucket: None) -> AsyncIterator[None]:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except (redis.RedisError, OSError) as exc:
        pytest.skip(f"Redis at 127.0.0.1:6379 is not reachable ({exc!r})")
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    reset_settings()
    yield
    await close_redis()
    monkeypatch.delenv("REDIS_URL")
    reset_settings()

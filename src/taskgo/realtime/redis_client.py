"""The process's Redis connection pool for presence and chat rate limits."""

from __future__ import annotations

import redis.asyncio as aioredis

from taskgo.realtime.settings import redis_url


class _RedisState:
    client: aioredis.Redis | None = None


_state = _RedisState()


def get_redis() -> aioredis.Redis | None:
    """Return the shared client, or None when ``REDIS_URL`` is unset (single process)."""
    url = redis_url()
    if url is None:
        return None
    if _state.client is None:
        # Short timeouts: a chat message should fail fast rather than hang on a dead Redis.
        _state.client = aioredis.Redis.from_url(
            url, socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=30
        )
    return _state.client


async def close_redis() -> None:
    client = _state.client
    _state.client = None
    if client is not None:
        await client.aclose()

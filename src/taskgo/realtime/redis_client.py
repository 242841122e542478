"""The process's Redis connection pool for presence and chat rate limits."""

from __future__ import annotations

import redis.asyncio as aioredis

from taskgo.realtime.settings import redis_url

# Connections per process; more commands wait up to 2 s for one of them.
MAX_CONNECTIONS = 64


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
        # A blocking pool makes a burst of commands (one rate-limit check per message from
        # a thousand sockets) wait for a free connection. The default pool raised
        # MaxConnectionsError past 100 connections in the chat bench with two processes.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=2.0,
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
            health_check_interval=30,
        )
        _state.client = aioredis.Redis(connection_pool=pool)
    return _state.client


async def close_redis() -> None:
    client = _state.client
    _state.client = None
    if client is not None:
        await client.aclose(close_connection_pool=True)

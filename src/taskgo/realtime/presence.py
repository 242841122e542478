"""Which users have a connected socket, across all server processes.

With Redis, each user has a sorted set ``taskgo:presence:<user id>`` whose members are
``<process id>:<sid>`` scored by a lease deadline (Unix seconds). Every process renews the
leases of its own sockets, so the sockets of a process that died stop counting once their
lease runs out. Without Redis the set lives in this process.
"""

import asyncio
import contextlib
import time
import uuid
from uuid import UUID

import redis.asyncio as aioredis
import structlog

from taskgo.realtime.settings import realtime_settings

log = structlog.get_logger(__name__)

KEY_PREFIX = "taskgo:presence:"
PROCESS_ID = uuid.uuid4().hex


class _Presence:
    def __init__(self) -> None:
        self.redis: aioredis.Redis | None = None
        self.refresher: asyncio.Task[None] | None = None
        # Local sockets: sid -> user id. This is the whole state when Redis is not used.
        self.sockets: dict[str, UUID] = {}


_state = _Presence()


def _key(user_id: UUID) -> str:
    return f"{KEY_PREFIX}{user_id}"


def _member(sid: str) -> str:
    return f"{PROCESS_ID}:{sid}"


def _redis() -> aioredis.Redis | None:
    url = realtime_settings().redis_url
    if url is None:
        return None
    if _state.redis is None:
        _state.redis = aioredis.Redis.from_url(url)
    return _state.redis


async def add(*, sid: str, user_id: UUID) -> None:
    _state.sockets[sid] = user_id
    client = _redis()
    if client is None:
        return

    lease = realtime_settings().presence_lease_seconds
    async with client.pipeline(transaction=False) as pipe:
        pipe.zadd(_key(user_id), {_member(sid): time.time() + lease})
        pipe.expire(_key(user_id), lease * 2)
        await pipe.execute()


async def remove(*, sid: str) -> None:
    user_id = _state.sockets.pop(sid, None)
    client = _redis()
    if client is None or user_id is None:
        return
    await client.zrem(_key(user_id), _member(sid))


async def online_users(user_ids: list[UUID]) -> set[UUID]:
    """Return those of ``user_ids`` that have at least one connected socket."""
    client = _redis()
    if client is None:
        local = set(_state.sockets.values())
        return {user_id for user_id in user_ids if user_id in local}

    now = time.time()
    async with client.pipeline(transaction=False) as pipe:
        for user_id in user_ids:
            pipe.zcount(_key(user_id), now, "+inf")
        counts = await pipe.execute()
    return {user_id for user_id, count in zip(user_ids, counts, strict=True) if count > 0}


async def _renew_leases() -> None:
    client = _redis()
    if client is None or not _state.sockets:
        return

    lease = realtime_settings().presence_lease_seconds
    deadline = time.time() + lease
    async with client.pipeline(transaction=False) as pipe:
        for sid, user_id in list(_state.sockets.items()):
            pipe.zadd(_key(user_id), {_member(sid): deadline})
            pipe.expire(_key(user_id), lease * 2)
            # Drop members whose lease ran out (sockets of a process that stopped).
            pipe.zremrangebyscore(_key(user_id), "-inf", time.time())
        await pipe.execute()


async def _refresh_forever() -> None:
    interval = max(realtime_settings().presence_lease_seconds / 3, 1.0)
    while True:
        await asyncio.sleep(interval)
        try:
            await _renew_leases()
        except (aioredis.RedisError, OSError) as exc:
            log.warning("realtime.presence_refresh_failed", error=repr(exc))


async def start() -> None:
    if _redis() is not None and _state.refresher is None:
        _state.refresher = asyncio.get_running_loop().create_task(_refresh_forever())


async def stop() -> None:
    if _state.refresher is not None:
        _state.refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await _state.refresher
        _state.refresher = None

    client = _state.redis
    if client is not None:
        with contextlib.suppress(aioredis.RedisError, OSError):
            async with client.pipeline(transaction=False) as pipe:
                for sid, user_id in _state.sockets.items():
                    pipe.zrem(_key(user_id), _member(sid))
                await pipe.execute()
        await client.aclose()
        _state.redis = None
    _state.sockets.clear()

"""Presence: the users with a connected socket, across all server processes.

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

from taskgo.realtime.redis_client import close_redis, get_redis
from taskgo.realtime.settings import realtime_settings

log = structlog.get_logger(__name__)

KEY_PREFIX = "taskgo:presence:"
PROCESS_ID = uuid.uuid4().hex


class _Presence:
    def __init__(self) -> None:
        self.refresher: asyncio.Task[None] | None = None
        # Local sockets: sid -> user id, and the number of local sockets per user. This is
        # the whole state when Redis is not used.
        self.sockets: dict[str, UUID] = {}
        self.counts: dict[UUID, int] = {}


_state = _Presence()


def _key(user_id: UUID) -> str:
    return f"{KEY_PREFIX}{user_id}"


def _member(sid: str) -> str:
    return f"{PROCESS_ID}:{sid}"


async def add(*, sid: str, user_id: UUID) -> None:
    """Count ``sid`` as a connected socket of ``user_id``.

    A Redis failure is logged and not raised, so the socket still connects; the next lease
    renewal records it.
    """
    if sid not in _state.sockets:
        _state.sockets[sid] = user_id
        _state.counts[user_id] = _state.counts.get(user_id, 0) + 1
    client = get_redis()
    if client is None:
        return

    lease = realtime_settings().presence_lease_seconds
    try:
        async with client.pipeline(transaction=False) as pipe:
            pipe.zadd(_key(user_id), {_member(sid): time.time() + lease})
            pipe.expire(_key(user_id), lease * 2)
            await pipe.execute()
    except (aioredis.RedisError, OSError) as exc:
        log.warning("realtime.presence_add_failed", sid=sid, error=repr(exc))


async def remove(*, sid: str) -> None:
    """Stop counting ``sid``; on a Redis failure its entry lapses when its lease runs out."""
    user_id = _state.sockets.pop(sid, None)
    if user_id is not None:
        remaining = _state.counts.get(user_id, 1) - 1
        if remaining > 0:
            _state.counts[user_id] = remaining
        else:
            _state.counts.pop(user_id, None)
    client = get_redis()
    if client is None or user_id is None:
        return
    try:
        await client.zrem(_key(user_id), _member(sid))
    except (aioredis.RedisError, OSError) as exc:
        log.warning("realtime.presence_remove_failed", sid=sid, error=repr(exc))


async def online_users(user_ids: list[UUID]) -> set[UUID]:
    """Return those of ``user_ids`` that have at least one connected socket."""
    # A socket in this process settles it without a round trip to Redis.
    online = {user_id for user_id in user_ids if user_id in _state.counts}
    elsewhere = [user_id for user_id in user_ids if user_id not in online]
    client = get_redis()
    if client is None or not elsewhere:
        return online

    now = time.time()
    async with client.pipeline(transaction=False) as pipe:
        for user_id in elsewhere:
            pipe.zcount(_key(user_id), now, "+inf")
        counts = await pipe.execute()
    online.update(user_id for user_id, count in zip(elsewhere, counts, strict=True) if count > 0)
    return online


async def _renew_leases() -> None:
    client = get_redis()
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
    if get_redis() is not None and _state.refresher is None:
        _state.refresher = asyncio.get_running_loop().create_task(_refresh_forever())


async def stop() -> None:
    if _state.refresher is not None:
        _state.refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await _state.refresher
        _state.refresher = None

    client = get_redis()
    if client is not None and _state.sockets:
        with contextlib.suppress(aioredis.RedisError, OSError):
            async with client.pipeline(transaction=False) as pipe:
                for sid, user_id in _state.sockets.items():
                    pipe.zrem(_key(user_id), _member(sid))
                await pipe.execute()
    _state.sockets.clear()
    _state.counts.clear()
    await close_redis()

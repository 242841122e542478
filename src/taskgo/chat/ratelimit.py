"""Per-user token bucket for new chat messages.

With Redis the bucket is one hash per user, updated by a Lua script so that all server
processes share it. The script reads Redis's clock, so process clocks need not agree.
Without Redis the buckets live in this process.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from uuid import UUID

import structlog
from redis.exceptions import NoScriptError, RedisError

from taskgo.errors import AppError
from taskgo.realtime.redis_client import get_redis
from taskgo.realtime.settings import realtime_settings

log = structlog.get_logger(__name__)

KEY_PREFIX = "taskgo:chat:rate:"

# Returns {allowed (0|1), milliseconds until one token is available}.
_BUCKET_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local allowed = 0
local wait_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait_ms = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return {allowed, wait_ms}
"""


@dataclass
class _Bucket:
    tokens: float
    at: float


class _LocalBuckets:
    def __init__(self) -> None:
        self.buckets: dict[UUID, _Bucket] = {}
        self.script_sha: str | None = None


_local = _LocalBuckets()

# Buckets that have refilled completely carry no state, so they are dropped once this many
# accumulate. Memory is then bounded by the number of recently active users.
_PRUNE_THRESHOLD = 10_000


def _take_local(user_id: UUID, *, capacity: int, rate: float) -> int:
    now = time.monotonic()
    bucket = _local.buckets.get(user_id)
    if bucket is None:
        bucket = _Bucket(tokens=float(capacity), at=now)
        _local.buckets[user_id] = bucket

    bucket.tokens = min(capacity, bucket.tokens + (now - bucket.at) * rate)
    bucket.at = now
    if bucket.tokens >= 1:
        bucket.tokens -= 1
        wait_ms = 0
    else:
        wait_ms = math.ceil((1 - bucket.tokens) / rate * 1000)

    if len(_local.buckets) > _PRUNE_THRESHOLD:
        full_after = capacity / rate
        stale = [uid for uid, b in _local.buckets.items() if now - b.at > full_after]
        for uid in stale:
            del _local.buckets[uid]
    return wait_ms


async def _take_redis(user_id: UUID, *, capacity: int, rate: float) -> int:
    client = get_redis()
    assert client is not None
    key = f"{KEY_PREFIX}{user_id}"
    args = (str(capacity), repr(rate))

    if _local.script_sha is not None:
        try:
            allowed, wait_ms = await client.evalsha(_local.script_sha, 1, key, *args)
            return 0 if int(allowed) else int(wait_ms)
        except NoScriptError:
            _local.script_sha = None

    _local.script_sha = await client.script_load(_BUCKET_SCRIPT)
    allowed, wait_ms = await client.evalsha(_local.script_sha, 1, key, *args)
    return 0 if int(allowed) else int(wait_ms)


async def check_message_rate(user_id: UUID) -> None:
    """Take one token from ``user_id``'s bucket or raise ``chat.rate_limited`` (429)."""
    settings = realtime_settings()
    capacity = settings.chat_rate_burst
    rate = settings.chat_rate_per_second

    if get_redis() is None:
        wait_ms = _take_local(user_id, capacity=capacity, rate=rate)
    else:
        try:
            wait_ms = await _take_redis(user_id, capacity=capacity, rate=rate)
        except (RedisError, OSError) as exc:
            # A Redis outage must not stop the chat, so this process's bucket takes over.
            log.warning("chat.rate_limit_redis_failed", user_id=str(user_id), error=repr(exc))
            wait_ms = _take_local(user_id, capacity=capacity, rate=rate)

    if wait_ms > 0:
        seconds = max(1, math.ceil(wait_ms / 1000))
        raise AppError(
            "chat.rate_limited",
            status=429,
            details={"retryAfterMs": wait_ms},
            seconds=seconds,
        )

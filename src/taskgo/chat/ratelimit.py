"""Per-user token buckets for the chat: one for new messages, one for the other events.

New messages (`send_message`, `POST .../messages`) take from the message bucket. The
events that only read or move a position (`join_conversation`, `messages_read`,
`POST .../read`) take from a larger control bucket, so that a client in a loop cannot load
the database with them either. A resend that turns out to be a duplicate gets its message
token back and pays with a control token instead. A message past the message rate pays a
control token for the look-up that finds whether it is a resend. A resend then gets the
stored message rather than the 429 error.

With Redis each bucket is one hash per user, updated by a Lua script so that all server
processes share it. The script reads Redis's clock, so process clocks need not agree.
Without Redis the buckets live in this process.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

import structlog
from redis.exceptions import NoScriptError, RedisError

from taskgo.errors import AppError
from taskgo.realtime.redis_client import get_redis
from taskgo.realtime.settings import realtime_settings

log = structlog.get_logger(__name__)

KEY_PREFIX = "taskgo:chat:rate:"


class Bucket(StrEnum):
    """The two kinds of bucket each user has."""

    MESSAGE = "message"
    CONTROL = "control"


def _redis_key(kind: Bucket, user_id: UUID) -> str:
    # The message bucket keeps the key it had before control buckets existed.
    if kind is Bucket.MESSAGE:
        return f"{KEY_PREFIX}{user_id}"
    return f"{KEY_PREFIX}{kind}:{user_id}"


# Takes one token from each bucket in KEYS, in order (a key may appear several times), and
# returns for each the milliseconds until a token is available: 0 when one was taken.
# NOTE: a script that touches several keys needs them in one hash slot on Redis Cluster.
_BUCKET_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local ttl_ms = math.ceil(capacity / rate * 1000) + 1000
local waits = {}
for index, key in ipairs(KEYS) do
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(state[1])
  local at = tonumber(state[2])
  if tokens == nil or at == nil then
    tokens = capacity
    at = now
  end
  tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
  local wait_ms = 0
  if tokens >= 1 then
    tokens = tokens - 1
  else
    wait_ms = math.ceil((1 - tokens) / rate * 1000)
  end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('PEXPIRE', key, ttl_ms)
  waits[index] = wait_ms
end
return waits
"""

# Gives one token back, up to the capacity. A bucket that expired meanwhile is full anyway,
# so the script leaves it alone.
_REFUND_SCRIPT = """
local capacity = tonumber(ARGV[1])
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
if tokens ~= nil then
  redis.call('HSET', KEYS[1], 'tokens', tostring(math.min(capacity, tokens + 1)))
end
return 0
"""


@dataclass
class _Bucket:
    tokens: float
    at: float


class _LocalBuckets:
    def __init__(self) -> None:
        self.buckets: dict[tuple[Bucket, UUID], _Bucket] = {}
        self.script_sha: str | None = None


_local = _LocalBuckets()

# Buckets that have refilled completely carry no state, so they are dropped once this many
# accumulate. Memory is then bounded by the number of recently active users.
_PRUNE_THRESHOLD = 10_000


def _take_local(key: tuple[Bucket, UUID], *, capacity: int, rate: float) -> int:
    now = time.monotonic()
    bucket = _local.buckets.get(key)
    if bucket is None:
        bucket = _Bucket(tokens=float(capacity), at=now)
        _local.buckets[key] = bucket

    bucket.tokens = min(capacity, bucket.tokens + (now - bucket.at) * rate)
    bucket.at = now
    if bucket.tokens >= 1:
        bucket.tokens -= 1
        wait_ms = 0
    else:
        wait_ms = math.ceil((1 - bucket.tokens) / rate * 1000)

    if len(_local.buckets) > _PRUNE_THRESHOLD:
        _prune(now)
    return wait_ms


def _prune(now: float) -> None:
    """Drop the buckets that have refilled completely since their last use."""
    full_after = {}
    for kind in Bucket:
        capacity, rate = _limits(kind)
        full_after[kind] = capacity / rate
    stale = [key for key, bucket in _local.buckets.items() if now - bucket.at > full_after[key[0]]]
    for key in stale:
        del _local.buckets[key]


async def _take_redis(keys: list[str], *, capacity: int, rate: float) -> list[int]:
    client = get_redis()
    assert client is not None
    args = (str(capacity), repr(rate))

    if _local.script_sha is not None:
        try:
            waits = await client.evalsha(_local.script_sha, len(keys), *keys, *args)
            return [int(wait_ms) for wait_ms in waits]
        except NoScriptError:
            _local.script_sha = None

    _local.script_sha = await client.script_load(_BUCKET_SCRIPT)
    waits = await client.evalsha(_local.script_sha, len(keys), *keys, *args)
    return [int(wait_ms) for wait_ms in waits]


def _limits(kind: Bucket) -> tuple[int, float]:
    settings = realtime_settings()
    if kind is Bucket.MESSAGE:
        return settings.chat_rate_burst, settings.chat_rate_per_second
    return settings.chat_control_rate_burst, settings.chat_control_rate_per_second


async def _take_many(kind: Bucket, user_ids: list[UUID]) -> list[int]:
    """Take one token per entry of ``user_ids`` and return, in order, 0 or the wait in ms.

    A user may appear several times. An entry that gets no token takes nothing.
    """
    capacity, rate = _limits(kind)
    if get_redis() is None:
        return [_take_local((kind, uid), capacity=capacity, rate=rate) for uid in user_ids]
    try:
        keys = [_redis_key(kind, uid) for uid in user_ids]
        return await _take_redis(keys, capacity=capacity, rate=rate)
    except (RedisError, OSError) as exc:
        # A Redis outage must not stop the chat, so this process's buckets take over.
        log.warning(
            "chat.rate_limit_redis_failed",
            user_ids=sorted({str(uid) for uid in user_ids}),
            bucket=kind,
            error=repr(exc),
        )
        return [_take_local((kind, uid), capacity=capacity, rate=rate) for uid in user_ids]


async def _take(kind: Bucket, user_id: UUID) -> int:
    """Take one token; return 0, or the milliseconds until one is available (nothing taken)."""
    (wait_ms,) = await _take_many(kind, [user_id])
    return wait_ms


def rate_limited(wait_ms: int) -> AppError:
    """Build the ``chat.rate_limited`` error (429) for a wait of ``wait_ms`` milliseconds."""
    return AppError(
        "chat.rate_limited",
        status=429,
        details={"retryAfterMs": wait_ms},
        seconds=max(1, math.ceil(wait_ms / 1000)),
    )


async def _check(kind: Bucket, user_id: UUID) -> None:
    wait_ms = await _take(kind, user_id)
    if wait_ms > 0:
        raise rate_limited(wait_ms)


async def check_message_rate(user_id: UUID) -> None:
    """Take one token from ``user_id``'s message bucket or raise ``chat.rate_limited`` (429)."""
    await _check(Bucket.MESSAGE, user_id)


async def take_message_tokens(user_ids: list[UUID]) -> list[int]:
    """Take one message token per entry of ``user_ids`` with one Redis call.

    Returns, in order, 0 for a token taken or the milliseconds until one is available. A
    user may appear several times, once per message.
    """
    return await _take_many(Bucket.MESSAGE, user_ids)


async def take_control_tokens(user_ids: list[UUID]) -> list[int]:
    """Take one control token per entry of ``user_ids``, as ``take_message_tokens`` does."""
    return await _take_many(Bucket.CONTROL, user_ids)


async def check_control_rate(user_id: UUID) -> None:
    """Take one token from ``user_id``'s control bucket or raise ``chat.rate_limited`` (429)."""
    await _check(Bucket.CONTROL, user_id)


async def refund_message_token(user_id: UUID) -> None:
    """Move the cost of a send that stored nothing (a duplicate resend) to the control bucket.

    A client that reconnects resends the messages it has no ack for. Those resends must
    not use up the budget of the messages it writes next, so the message token goes back.
    A resend still reads the database, so it takes a control token instead. When the
    control bucket is empty, the message token stays spent, so a client that resends in a
    loop is limited like any other.
    """
    if await _take(Bucket.CONTROL, user_id) > 0:
        return
    capacity, _ = _limits(Bucket.MESSAGE)
    local = _local.buckets.get((Bucket.MESSAGE, user_id))
    if local is not None:
        local.tokens = min(capacity, local.tokens + 1)
    client = get_redis()
    if client is None:
        return
    try:
        await client.eval(_REFUND_SCRIPT, 1, _redis_key(Bucket.MESSAGE, user_id), str(capacity))
    except (RedisError, OSError) as exc:
        # Only the refund is lost: the user may be limited a little earlier.
        log.warning("chat.rate_refund_failed", user_id=str(user_id), error=repr(exc))

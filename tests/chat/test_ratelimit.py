import asyncio
import uuid

import pytest
import redis

from taskgo.chat import ratelimit
from taskgo.chat.ratelimit import check_control_rate, check_message_rate, refund_message_token
from taskgo.config import reset_settings
from taskgo.errors import AppError
from taskgo.realtime.redis_client import close_redis
from taskgo.realtime.settings import reset_realtime_settings
from tests.chat.conftest import REDIS_URL


async def _taken(user_id: uuid.UUID, attempts: int) -> list[int]:
    """Return retryAfterMs per attempt, 0 for the allowed ones."""
    waits = []
    for _ in range(attempts):
        try:
            await check_message_rate(user_id)
        except AppError as exc:
            assert exc.code == "chat.rate_limited"
            assert exc.status == 429
            waits.append(int(exc.details["retryAfterMs"]))
        else:
            waits.append(0)
    return waits


@pytest.mark.usefixtures("small_bucket")
async def test_local_bucket_limits_burst() -> None:
    user = uuid.uuid4()

    waits = await _taken(user, 5)

    assert waits[:3] == [0, 0, 0]
    assert 0 < waits[3] <= 500
    assert 0 < waits[4] <= 500


@pytest.mark.usefixtures("small_bucket")
async def test_local_bucket_refills() -> None:
    user = uuid.uuid4()
    await _taken(user, 3)

    await asyncio.sleep(0.6)

    # 0.6 s at 2 tokens/s refills one token (and a fifth of another).
    waits = await _taken(user, 2)
    assert waits[0] == 0
    assert 0 < waits[1] <= 500


@pytest.mark.usefixtures("small_bucket")
async def test_buckets_are_per_user() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    await _taken(first, 3)

    assert await _taken(second, 3) == [0, 0, 0]
    assert (await _taken(first, 1))[0] > 0


@pytest.mark.usefixtures("with_redis")
async def test_redis_bucket_limits_burst() -> None:
    user = uuid.uuid4()

    waits = await _taken(user, 5)

    assert waits[:3] == [0, 0, 0]
    assert 0 < waits[3] <= 500
    client = redis.Redis.from_url(REDIS_URL)
    ttl = client.pttl(f"{ratelimit.KEY_PREFIX}{user}")
    assert 0 < ttl <= 2500


@pytest.mark.usefixtures("with_redis")
async def test_redis_bucket_refills() -> None:
    user = uuid.uuid4()
    await _taken(user, 3)

    await asyncio.sleep(0.6)

    # Redis's clock decides the refill: one token after 0.6 s at 2 tokens/s.
    waits = await _taken(user, 2)
    assert waits[0] == 0
    assert 0 < waits[1] <= 500


@pytest.mark.usefixtures("small_bucket")
async def test_redis_outage_falls_back_to_local(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing listens on port 1 of the loopback, so every Redis call fails at once.
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    reset_settings()
    user = uuid.uuid4()
    try:
        waits = await _taken(user, 4)
    finally:
        await close_redis()
        monkeypatch.delenv("REDIS_URL")
        reset_settings()

    assert waits[:3] == [0, 0, 0]
    assert waits[3] > 0


@pytest.mark.usefixtures("with_redis")
async def test_redis_burst_of_checks_waits() -> None:
    users = [uuid.uuid4() for _ in range(600)]

    # More checks at once than the pool has connections: they wait for one, and none
    # falls back to this process's buckets.
    await asyncio.gather(*(check_message_rate(user) for user in users))

    assert not any((ratelimit.Bucket.MESSAGE, user) in ratelimit._local.buckets for user in users)
    client = redis.Redis.from_url(REDIS_URL)
    assert client.exists(*(f"{ratelimit.KEY_PREFIX}{user}" for user in users)) == 600


@pytest.mark.usefixtures("small_bucket")
async def test_local_refund_returns_token() -> None:
    user = uuid.uuid4()
    await _taken(user, 3)

    await refund_message_token(user)
    await refund_message_token(user)

    waits = await _taken(user, 3)
    assert waits[:2] == [0, 0]
    assert waits[2] > 0


@pytest.mark.usefixtures("with_redis")
async def test_redis_refund_capped_at_capacity() -> None:
    user = uuid.uuid4()
    await _taken(user, 1)

    # Two refunds after one take: the bucket stops at its capacity of 3.
    await refund_message_token(user)
    await refund_message_token(user)

    waits = await _taken(user, 4)
    assert waits[:3] == [0, 0, 0]
    assert waits[3] > 0


@pytest.mark.usefixtures("with_redis")
async def test_redis_refund_of_unknown_bucket() -> None:
    user = uuid.uuid4()

    await refund_message_token(user)

    client = redis.Redis.from_url(REDIS_URL)
    assert client.exists(f"{ratelimit.KEY_PREFIX}{user}") == 0


async def _check_control_bucket(monkeypatch: pytest.MonkeyPatch) -> uuid.UUID:
    """Use up a control bucket of 2 and check that the message bucket is still full."""
    monkeypatch.setenv("CHAT_CONTROL_RATE_BURST", "2")
    monkeypatch.setenv("CHAT_CONTROL_RATE_PER_SECOND", "1")
    reset_realtime_settings()
    user = uuid.uuid4()

    await check_control_rate(user)
    await check_control_rate(user)
    with pytest.raises(AppError) as raised:
        await check_control_rate(user)

    assert raised.value.code == "chat.rate_limited"
    assert 0 < raised.value.details["retryAfterMs"] <= 1000
    assert await _taken(user, 3) == [0, 0, 0]
    return user


@pytest.mark.usefixtures("small_bucket")
async def test_local_control_bucket_separate(monkeypatch: pytest.MonkeyPatch) -> None:
    await _check_control_bucket(monkeypatch)


@pytest.mark.usefixtures("with_redis")
async def test_redis_control_bucket_separate(monkeypatch: pytest.MonkeyPatch) -> None:
    user = await _check_control_bucket(monkeypatch)

    client = redis.Redis.from_url(REDIS_URL)
    assert client.exists(f"{ratelimit.KEY_PREFIX}control:{user}") == 1


async def _refund_without_control_tokens(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    monkeypatch.setenv("CHAT_CONTROL_RATE_BURST", "1")
    monkeypatch.setenv("CHAT_CONTROL_RATE_PER_SECOND", "0.1")
    reset_realtime_settings()
    user = uuid.uuid4()
    await _taken(user, 3)

    # The first refund pays with the only control token; the second finds none, so its
    # message token stays spent.
    await refund_message_token(user)
    await refund_message_token(user)

    return await _taken(user, 2)


@pytest.mark.usefixtures("small_bucket")
async def test_local_refund_needs_control_token(monkeypatch: pytest.MonkeyPatch) -> None:
    waits = await _refund_without_control_tokens(monkeypatch)

    assert waits[0] == 0
    assert waits[1] > 0


@pytest.mark.usefixtures("with_redis")
async def test_redis_refund_needs_control_token(monkeypatch: pytest.MonkeyPatch) -> None:
    waits = await _refund_without_control_tokens(monkeypatch)

    assert waits[0] == 0
    assert waits[1] > 0


async def _check_batch_take() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()

    waits = await ratelimit.take_message_tokens([first, second, first, first, second, first])

    # Three tokens each: the fourth entry of `first` waits, `second` stays within its burst.
    assert waits[:5] == [0, 0, 0, 0, 0]
    assert 0 < waits[5] <= 500
    assert (await _taken(first, 1))[0] > 0
    assert await _taken(second, 1) == [0]


@pytest.mark.usefixtures("small_bucket")
async def test_local_batch_take_in_order() -> None:
    await _check_batch_take()


@pytest.mark.usefixtures("with_redis")
async def test_redis_batch_take_in_order() -> None:
    await _check_batch_take()

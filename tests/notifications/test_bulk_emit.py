"""`emit_each_now` publishes what python-socketio's Redis manager publishes for an emit."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
import redis.asyncio
import socketio

from taskgo.realtime.bulk import emit_messages
from taskgo.realtime.codec import OrjsonCodec
from taskgo.realtime.server import REDIS_CHANNEL

REDIS_URL = "redis://127.0.0.1:6379/0"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def redis_client() -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (redis.RedisError, OSError) as error:
        pytest.skip(f"Redis at 127.0.0.1:6379 is not reachable: {error!r}")
    try:
        yield client
    finally:
        await client.aclose()


async def next_messages(pubsub: redis.asyncio.client.PubSub, count: int) -> list[dict[str, object]]:
    """Read the next `count` messages published on the subscribed channel."""
    found: list[dict[str, object]] = []
    async with asyncio.timeout(10):
        while len(found) < count:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is None:
                continue
            found.append(orjson.loads(message["data"]))
    return found


async def test_messages_match_the_manager(redis_client: redis.asyncio.Redis) -> None:
    channel = f"taskgo.test.{uuid.uuid4().hex}"
    payload = {"id": str(uuid.uuid4()), "title": "Olá", "readAt": None, "data": {"n": 1}}
    manager = socketio.AsyncRedisManager(
        REDIS_URL, channel=channel, write_only=True, json=OrjsonCodec
    )
    async with redis_client.pubsub() as pubsub:
        await pubsub.subscribe(channel)
        await manager.emit("notification", payload, room="user:abc", namespace="/")
        [published] = await next_messages(pubsub, 1)
    await manager.redis.aclose()

    [ours] = [
        orjson.loads(text)
        for text in emit_messages("notification", [("user:abc", payload)], host_id="h")
    ]
    assert published.keys() == ours.keys()
    assert {key: value for key, value in published.items() if key != "host_id"} == {
        key: value for key, value in ours.items() if key != "host_id"
    }


async def test_worker_publishes_every_event(redis_client: redis.asyncio.Redis) -> None:
    """From a process that serves no sockets, every (room, data) pair reaches Redis."""
    event = f"test_bulk_{uuid.uuid4().hex[:12]}"
    script = (
        "import asyncio, sys\n"
        "from taskgo.realtime.bulk import close_bulk_emitter, emit_each_now\n"
        "async def main():\n"
        "    items = [(f'user:{n}', {'n': n}) for n in range(300)]\n"
        f"    assert await emit_each_now({event!r}, items)\n"
        "    await close_bulk_emitter()\n"
        "asyncio.run(main())\n"
    )
    async with redis_client.pubsub() as pubsub:
        await pubsub.subscribe(REDIS_CHANNEL)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            script,
            cwd=ROOT,
            env={**os.environ, "REDIS_URL": REDIS_URL},
            stderr=subprocess.PIPE,
        )
        _, errors = await process.communicate()
        assert process.returncode == 0, errors.decode()
        received: list[dict[str, object]] = []
        async with asyncio.timeout(10):
            while len(received) < 300:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None:
                    document = orjson.loads(message["data"])
                    if document.get("event") == event:
                        received.append(document)

    assert [message["room"] for message in received] == [f"user:{n}" for n in range(300)]
    assert [message["data"] for message in received] == [[{"n": n}] for n in range(300)]

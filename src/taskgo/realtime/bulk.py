"""One event to many rooms, each room with its own data, for jobs that notify many users.

`emit_now` from a worker publishes one Redis message per call and waits for Redis each
time: a thousand `notification` events cost a thousand round trips. `emit_each_now` sends
the same messages through one Redis pipeline. The messages have the shape that
python-socketio's Redis manager publishes for an emit, so the servers deliver them the
same way; `tests/notifications/test_bulk_emit.py` compares the two.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import redis.asyncio
import structlog

from taskgo.realtime.codec import OrjsonCodec
from taskgo.realtime.emitter import emit_now
from taskgo.realtime.server import REDIS_CHANNEL, is_attached
from taskgo.realtime.settings import redis_url

log = structlog.get_logger(__name__)


class _Publisher:
    client: redis.asyncio.Redis | None = None
    url: str | None = None
    # Servers skip messages carrying their own host id. This process serves no sockets,
    # so an id of its own is never a server's.
    host_id = uuid.uuid4().hex


_publisher = _Publisher()


def emit_messages(event: str, items: Sequence[tuple[str, Any]], *, host_id: str) -> list[str]:
    """Encode one Redis manager `emit` message per (room, data) pair."""
    return [
        OrjsonCodec.dumps(
            {
                "method": "emit",
                "event": event,
                "data": [data],
                "binary": False,
                "namespace": "/",
                "room": room,
                "skip_sid": None,
                "callback": None,
                "host_id": host_id,
            }
        )
        for room, data in items
    ]


def _client(url: str) -> redis.asyncio.Redis:
    if _publisher.client is None or _publisher.url != url:
        _publisher.client = redis.asyncio.Redis.from_url(url)
        _publisher.url = url
    return _publisher.client


async def emit_each_now(event: str, items: Sequence[tuple[str, Any]]) -> bool:
    """Send `event` to each room of `items` with that room's data, after a commit.

    In a process that serves Socket.IO each event goes through the server. Elsewhere (a
    worker) all of them are published on Redis in one pipeline. Like `emit_now`, this is
    best effort: it returns False, after logging, when the events could not be handed
    over, and never raises.
    """
    if not items:
        return True
    if is_attached():
        delivered = [await emit_now(event, data, room=room) for room, data in items]
        return all(delivered)

    url = redis_url()
    if url is None:
        log.warning(
            "realtime.emit_dropped",
            event_name=event,
            rooms=len(items),
            reason="no Socket.IO server in this process and REDIS_URL is unset",
        )
        return False
    try:
        messages = emit_messages(event, items, host_id=_publisher.host_id)
        async with _client(url).pipeline(transaction=False) as pipe:
            for message in messages:
                pipe.publish(REDIS_CHANNEL, message)
            await pipe.execute()
    except Exception as exc:
        log.error("realtime.emit_failed", event_name=event, rooms=len(items), error=repr(exc))
        return False
    return True


async def close_bulk_emitter() -> None:
    """Close the Redis connections of `emit_each_now`."""
    client, _publisher.client = _publisher.client, None
    if client is not None:
        await client.aclose()

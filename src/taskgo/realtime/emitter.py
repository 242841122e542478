"""Emitting server events: after the causing transaction commits, or at once from jobs."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import socketio
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.realtime.codec import OrjsonCodec
from taskgo.realtime.server import REDIS_CHANNEL, Emit, InlineEmitRedisManager, is_attached, sio
from taskgo.realtime.settings import redis_url

log = structlog.get_logger(__name__)

Room = str | Sequence[str]
AfterCommitCallback = Callable[[], Awaitable[None]]

# Pending after-commit callbacks when `taskgo.db.session.after_commit` is not available; the
# session code runs them after commit and drops them on rollback.
AFTER_COMMIT_KEY = "taskgo.after_commit"


class _ExternalEmitter:
    manager: socketio.AsyncRedisManager | None = None


_external = _ExternalEmitter()


def _snapshot(data: Any) -> Any:
    # Encoding now makes a bad payload fail in the request that built it, before its commit.
    # The copy also freezes the payload against later changes to the caller's objects.
    return OrjsonCodec.loads(OrjsonCodec.dumps(data))


def _rooms(room: Room) -> str | list[str]:
    if isinstance(room, str):
        return room
    rooms = list(dict.fromkeys(room))
    if not rooms:
        raise ValueError("an emit needs at least one room")
    return rooms


def _external_manager(url: str) -> socketio.AsyncRedisManager:
    if _external.manager is None:
        _external.manager = socketio.AsyncRedisManager(
            url, channel=REDIS_CHANNEL, write_only=True, json=OrjsonCodec
        )
    return _external.manager


async def emit_now(
    event: str, data: Any, *, room: Room, skip_sid: str | None = None, copy: bool = True
) -> bool:
    """Send ``event`` to every socket in ``room`` (a room name or a list of them).

    For code whose transaction already committed, such as a job. A socket in several of the
    rooms gets the event once. In a process that serves Socket.IO the server's manager is
    used; elsewhere (a worker) the event is published on Redis for the server processes.
    Returns False, after logging, when the event could not be handed to the transport,
    and never raises, because realtime delivery is best effort: clients recover missed
    events from the HTTP history.

    ``copy=False`` skips the encode-and-decode copy of ``data``, for a caller that built it
    just now from immutable values and never touches it again (the chat's message writer).

    NOTE: python-socketio's Redis manager retries a failed publish once, then logs and
    drops it, so True means "handed to the manager", not "published".
    """
    target = _rooms(room)
    payload = _snapshot(data) if copy else data

    try:
        if is_attached():
            await sio.emit(event, payload, to=target, skip_sid=skip_sid)
            return True

        url = redis_url()
        if url is None:
            log.warning(
                "realtime.emit_dropped",
                event_name=event,
                room=target,
                reason="no Socket.IO server in this process and REDIS_URL is unset",
            )
            return False

        await _external_manager(url).emit(
            event, payload, namespace="/", room=target, skip_sid=skip_sid
        )
        return True
    except Exception as exc:
        log.error("realtime.emit_failed", event_name=event, room=target, error=repr(exc))
        return False


async def emit_batch_now(emits: list[Emit]) -> bool:
    """Send each of ``emits`` to its rooms, as ``emit_now`` with ``copy=False`` would.

    With the Redis manager the whole list is one publish. Returns False, after logging, when
    the events could not be handed to the transport, and never raises.
    """
    if not emits:
        return True
    manager = sio.manager if is_attached() else None
    if not isinstance(manager, InlineEmitRedisManager):
        delivered = [
            await emit_now(
                item.event, item.data, room=item.room, skip_sid=item.skip_sid, copy=False
            )
            for item in emits
        ]
        return all(delivered)

    try:
        await manager.emit_batch([replace(item, room=_rooms(item.room)) for item in emits])
        return True
    except Exception as exc:
        log.error("realtime.emit_failed", event_count=len(emits), error=repr(exc))
        return False


def _register_after_commit(session: AsyncSession, callback: AfterCommitCallback) -> None:
    try:
        from taskgo.db.session import after_commit
    except ImportError:
        session.info.setdefault(AFTER_COMMIT_KEY, []).append(callback)
        return
    after_commit(session, callback)


def emit_after_commit(
    session: AsyncSession, event: str, data: Any, *, room: Room, skip_sid: str | None = None
) -> None:
    """Queue ``event`` for ``room``, to be sent only once ``session``'s transaction commits.

    On rollback nothing is sent. The payload is encoded now, so an unserializable value
    fails in the caller's transaction.
    """
    target = _rooms(room)
    payload = _snapshot(data)

    async def send() -> None:
        await emit_now(event, payload, room=target, skip_sid=skip_sid)

    _register_after_commit(session, send)


async def close_external_emitter() -> None:
    """Close the Redis connection that a worker process uses for its emits."""
    manager = _external.manager
    _external.manager = None
    if manager is not None and getattr(manager, "redis", None) is not None:
        await manager.redis.aclose()

"""The Socket.IO server, mounted at ``/socket.io`` in front of the FastAPI app."""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import socketio
import structlog

from taskgo.realtime.codec import OrjsonCodec
from taskgo.realtime.settings import redis_url

log = structlog.get_logger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SOCKETIO_PATH = "socket.io"
REDIS_CHANNEL = "taskgo.socketio"

# A chat body is at most 4,000 characters: up to 16 KB of UTF-8, or 32 KB once JSON escapes
# quotes and line breaks. 256 KiB leaves room for the packet framing and for a long-polling
# request that carries several queued messages.
MAX_PACKET_BYTES = 256 * 1024

# async_handlers=False makes each connection's events run one after another, in arrival
# order, so a `join_conversation` followed by a `send_message` never races, and two messages
# from one socket are stored in the order they were sent. Different connections still run
# concurrently because each has its own reader task.
sio = socketio.AsyncServer(
    async_mode="asgi",
    json=OrjsonCodec,
    async_handlers=False,
    max_http_buffer_size=MAX_PACKET_BYTES,
    ping_interval=25,
    ping_timeout=20,
    logger=False,
    engineio_logger=False,
)


class _ServerState:
    attached = False
    handlers_registered = False


_state = _ServerState()


def is_attached() -> bool:
    """Tell whether this process serves Socket.IO connections (``create_asgi_app`` ran)."""
    return _state.attached


def _install_manager(url: str | None) -> None:
    # The manager can only be swapped before the server has handled a connection or an emit,
    # because python-socketio initializes it lazily on first use.
    if sio.manager_initialized:
        return

    if url:
        manager: socketio.AsyncManager = socketio.AsyncRedisManager(
            url, channel=REDIS_CHANNEL, json=OrjsonCodec
        )
        log.info("realtime.manager_configured", manager="redis")
    else:
        manager = socketio.AsyncManager()
        log.info("realtime.manager_configured", manager="in_process")

    manager.set_server(sio)
    sio.manager = manager


def _register_handlers() -> None:
    if _state.handlers_registered:
        return

    # Imported here because the handler modules import this one for `sio`.
    from taskgo.chat import events as chat_events
    from taskgo.realtime import gateway

    gateway.register(sio)
    chat_events.register(sio)
    _state.handlers_registered = True


def create_asgi_app(fastapi_app: ASGIApp) -> socketio.ASGIApp:
    """Mount Socket.IO at ``/socket.io`` in front of ``fastapi_app``.

    With ``REDIS_URL`` set, emits and room broadcasts go through Redis so that every server
    process delivers to its own connections. Lifespan events go to ``fastapi_app``, whose
    start-up runs ``taskgo.realtime.startup``.
    """
    _install_manager(redis_url())
    _register_handlers()
    _state.attached = True
    return socketio.ASGIApp(sio, other_asgi_app=fastapi_app, socketio_path=SOCKETIO_PATH)

"""The Socket.IO server, mounted at ``/socket.io`` in front of the FastAPI app."""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import socketio
import structlog

from taskgo.realtime.codec import OrjsonCodec
from taskgo.realtime.settings import realtime_settings

log = structlog.get_logger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SOCKETIO_PATH = "socket.io"
REDIS_CHANNEL = "taskgo.socketio"

# A chat body is at most 4,000 characters (up to 16 KB of UTF-8); 64 KiB leaves room for the
# packet framing and a polling payload that batches several packets.
MAX_PACKET_BYTES = 64 * 1024

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


def _install_manager(redis_url: str | None) -> None:
    # The manager can only be swapped before the server has handled a connection or an emit,
    # because python-socketio initializes it lazily on first use.
    if sio.manager_initialized:
        return

    if redis_url:
        manager: socketio.AsyncManager = socketio.AsyncRedisManager(
            redis_url, channel=REDIS_CHANNEL, json=OrjsonCodec
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


class RealtimeApp:
    """ASGI app that sends ``/socket.io/`` to Socket.IO and everything else to FastAPI.

    Lifespan events go to FastAPI; the realtime layer starts after FastAPI's startup
    completes and stops before FastAPI's shutdown completes.
    """

    def __init__(self, fastapi_app: ASGIApp) -> None:
        self.fastapi_app = fastapi_app
        self.socketio_app = socketio.ASGIApp(
            sio, other_asgi_app=fastapi_app, socketio_path=SOCKETIO_PATH
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.socketio_app(scope, receive, send)
            return

        async def send_with_realtime(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                await _startup()
            elif message["type"] == "lifespan.shutdown.complete":
                await _shutdown()
            await send(message)

        await self.fastapi_app(scope, receive, send_with_realtime)


async def _startup() -> None:
    from taskgo.realtime import presence

    await presence.start()
    log.info("realtime.started", redis=bool(realtime_settings().redis_url))


async def _shutdown() -> None:
    from taskgo.realtime import presence

    await sio.shutdown()
    await presence.stop()
    log.info("realtime.stopped")


def create_asgi_app(fastapi_app: ASGIApp) -> RealtimeApp:
    """Mount Socket.IO at ``/socket.io`` in front of ``fastapi_app``.

    With ``REDIS_URL`` set, emits and room broadcasts go through Redis so that every server
    process delivers to its own connections.
    """
    _install_manager(realtime_settings().redis_url)
    _register_handlers()
    _state.attached = True
    return RealtimeApp(fastapi_app)

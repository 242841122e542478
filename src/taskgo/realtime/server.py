"""The Socket.IO server, mounted at ``/socket.io`` in front of the FastAPI app."""

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import socketio
import structlog
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from taskgo.realtime import transport
from taskgo.realtime.codec import FastPacket, OrjsonCodec, PacketDecodeError
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

# The name python-socketio registers the catch-all event handler under.
CATCH_ALL_EVENT = "*"


# async_handlers=False makes each connection's events run one after another, in arrival
# order, so a `join_conversation` followed by a `send_message` never races, and two messages
# from one socket are stored in the order they were sent. Different connections still run
# concurrently because each has its own reader task.
class GatewayServer(socketio.AsyncServer):
    """python-socketio's server with stricter checks of client events.

    - A client cannot call the ``connect`` and ``disconnect`` handlers by sending events with
      those names. python-socketio dispatches them like any other event, so a client could
      drop its own token expiry timer and stay connected after its token expired. They get
      the catch-all handler's reply instead.
    - An event named ``*`` gets that reply too. python-socketio calls the catch-all handler
      for it without the event name, so the handler took the first argument as the socket id
      and read another socket's session, or failed with a traceback and sent no ack.
    - An event packet whose payload is not a list that starts with the event name is logged
      as one warning line. python-socketio failed on it with a traceback at error level.
    - A packet that does not parse at all is logged as one warning line too. python-engineio
      logs any failure of the message handler with a traceback, and any client can send such
      packets. The connection stays open, as before.
    - A connection whose transport closes while its connect handler runs is undone
      (``_undo_connect``). python-socketio left it connected, with the user's presence.
    - Binary attachments must be binary frames. python-socketio took the next frame, text
      included, as the attachment a packet declared, and a packet whose attachments did not
      fit stayed pending, so every later packet of the session failed.

    NOTE: ``_handle_connect``, ``_handle_event`` and the use of ``_binary_packet`` follow
    python-socketio 5.18, so check them when upgrading it.
    """

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if eio_sid in self._binary_packet and not isinstance(data, bytes):
            # python-socketio would take this text as the attachment of the packet before it.
            del self._binary_packet[eio_sid]
            log.warning(
                "realtime.packet_invalid", sid=eio_sid, error="binary attachment missing, got text"
            )
        try:
            await super()._handle_eio_message(eio_sid, data)
        except PacketDecodeError as exc:
            # A pending packet whose attachments failed would take every later packet as one.
            self._binary_packet.pop(eio_sid, None)
            log.warning("realtime.packet_invalid", sid=eio_sid, error=str(exc)[:200])

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        namespace = namespace or "/"
        try:
            await super()._handle_connect(eio_sid, namespace, data)
        except Exception as exc:
            if self._transport_open(eio_sid):
                raise
            # The connect handler failed because the socket went away under it (its session
            # is gone), so this is the end of a dropped connection, not a server error.
            log.info("realtime.connect_abandoned", sid=eio_sid, error=repr(exc)[:200])
        if not self._transport_open(eio_sid):
            await self._undo_connect(eio_sid, namespace)

    def _transport_open(self, eio_sid: str) -> bool:
        socket = self.eio.sockets.get(eio_sid)
        return socket is not None and not socket.closing and not socket.closed

    async def _undo_connect(self, eio_sid: str, namespace: str) -> None:
        """Undo a connection whose transport closed while its connect handler ran.

        python-socketio ignores the disconnect of a socket whose connect is still pending,
        then marks it connected once the handler returns. Without this, the sid would stay
        in the manager, and the handler's presence entry and expiry timers would keep the
        user online for a socket that is gone.
        """
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        if sid is None:
            # The connection was refused, and python-socketio removed it already.
            return
        try:
            await self._trigger_event("disconnect", namespace, sid, self.reason.TRANSPORT_CLOSE)
        finally:
            await self.manager.disconnect(sid, namespace, ignore_queue=True)
        log.info("realtime.connect_undone", sid=sid)

    async def _handle_event(self, eio_sid: str, namespace: str | None, id: Any, data: Any) -> None:
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise PacketDecodeError("an event packet must be a list that starts with its name")
        if data[0] not in self.reserved_events and data[0] != CATCH_ALL_EVENT:
            await super()._handle_event(eio_sid, namespace, id, data)
            return

        namespace = namespace or "/"
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        catch_all = self.handlers.get(namespace, {}).get(CATCH_ALL_EVENT)
        if sid is None or not self.manager.is_connected(sid, namespace) or catch_all is None:
            log.info("realtime.event_ignored", sid=eio_sid, event_name=data[0], reason="reserved")
            return
        reply = await catch_all(data[0], sid, *data[1:])
        if id is not None:
            packet = self.packet_class(
                sio_packet.ACK, namespace=namespace, id=id, data=[] if reply is None else [reply]
            )
            await self._send_packet(eio_sid, packet)


sio = GatewayServer(
    async_mode="asgi",
    json=OrjsonCodec,
    serializer=FastPacket,
    async_handlers=False,
    max_http_buffer_size=MAX_PACKET_BYTES,
    ping_interval=25,
    ping_timeout=20,
    logger=False,
    engineio_logger=False,
)
transport.install(sio.eio)


class InlineEmitManager(socketio.AsyncManager):
    """In-process room delivery that queues each packet without a task per recipient.

    python-socketio's manager starts a task per recipient and waits for all of them,
    although a send only appends to the socket's unbounded outgoing queue. Here the encoded
    packet is appended for each recipient in turn, and a socket that closed meanwhile is
    skipped. Emits that expect an ack from each client keep python-socketio's path.

    NOTE: this follows python-socketio 5.18's ``AsyncManager.emit`` and calls the server's
    private ``_send_eio_packet``, so check it when upgrading python-socketio.
    """

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        if callback is not None:
            await super().emit(
                event,
                data,
                namespace,
                room=room,
                skip_sid=skip_sid,
                callback=callback,
                to=to,
                **kwargs,
            )
            return
        room = to or room
        if namespace not in self.rooms:
            return
        if isinstance(data, tuple):
            arguments = list(data)
        elif data is not None:
            arguments = [data]
        else:
            arguments = []
        skipped = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        encoded = self.server.packet_class(
            sio_packet.EVENT, namespace=namespace, data=[event, *arguments]
        ).encode()
        # A payload with bytes encodes to several packets (the event, then attachments).
        if not isinstance(encoded, list):
            encoded = [encoded]
        packets = [eio_packet.Packet(eio_packet.MESSAGE, part) for part in encoded]
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skipped:
                continue
            for part in packets:
                try:
                    await self.server._send_eio_packet(eio_sid, part)
                except Exception as exc:
                    # One closed socket must not stop the delivery to the others.
                    log.debug("realtime.send_skipped", sid=sid, error=repr(exc))
                    break


# A Redis message of this method carries several emits, each delivered like python-socketio's
# "emit" method but with its payload as the single argument.
# NOTE: servers from before this method ignore it, so during a rolling deploy the sockets on
# old processes miss the chat events written by new ones (clients fetch them from the history).
EMIT_BATCH_METHOD = "taskgo.emit_batch"

# Seconds between attempts to subscribe again after the Redis subscription is lost: the
# first wait, doubled after each failed attempt up to the last value, with jitter so that
# many processes do not all reconnect at the same moment.
RESUBSCRIBE_FIRST_WAIT = 0.25
RESUBSCRIBE_MAX_WAIT = 2.0


@dataclass(frozen=True)
class Emit:
    """One event for a set of rooms in the default namespace."""

    event: str
    data: Any
    room: str | list[str]
    skip_sid: str | None = None


class InlineEmitRedisManager(socketio.AsyncRedisManager, InlineEmitManager):
    """The Redis manager, delivering to this process's sockets like InlineEmitManager.

    ``emit_batch`` publishes several events as one Redis message, so that a batch of chat
    messages costs one publish, and one decode in each process, instead of one per message.
    """

    async def emit_batch(self, emits: list[Emit]) -> None:
        """Deliver ``emits`` to this process's sockets, then publish them for the others."""
        if any(FastPacket.data_is_binary(item.data) for item in emits):
            # Attachments need python-socketio's own encoding in the Redis message.
            for item in emits:
                await self.emit(item.event, item.data, "/", room=item.room, skip_sid=item.skip_sid)
            return

        for item in emits:
            await InlineEmitManager.emit(
                self, item.event, item.data, "/", room=item.room, skip_sid=item.skip_sid
            )
        await self._publish(
            {
                "method": EMIT_BATCH_METHOD,
                "host_id": self.host_id,
                "emits": [[item.event, item.data, item.room, item.skip_sid] for item in emits],
            }
        )

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        # Closes the sockets that missed events while the subscription was lost.
        self._reset_task: asyncio.Task[None] | None = None

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        """Yield the channel's messages, subscribing again at once when the connection drops.

        python-socketio's loop waits 1, 2, 4 ... up to 60 s between attempts, so after a
        Redis outage of 20 s a process missed events for 11 s more in one measurement.
        Events published while a process was not subscribed are lost for its sockets, and
        their clients would not know. So once subscribed again, this process closes its
        sockets as a dropped transport: socket.io clients reconnect (after their randomized
        delay, about 0.5 to 1.5 s by default) and fetch what they missed from the history.

        NOTE: this replaces python-socketio 5.18's private ``_redis_listen_with_retries``,
        so check it when upgrading python-socketio.
        """
        wait = RESUBSCRIBE_FIRST_WAIT
        lost_at: float | None = None
        while True:
            pubsub = None
            try:
                self._redis_connect()
                pubsub = self.pubsub
                await pubsub.subscribe(self.channel)
                if lost_at is not None:
                    log.warning(
                        "realtime.pubsub_resubscribed",
                        channel=self.channel,
                        lost_seconds=round(time.monotonic() - lost_at, 3),
                    )
                    self._reset_local_sockets()
                    lost_at = None
                wait = RESUBSCRIBE_FIRST_WAIT
                try:
                    async for message in pubsub.listen():
                        yield message
                finally:
                    # Also when the generator is closed or dropped: the subscription ends
                    # with it instead of staying open until the collector finds it.
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
                raise ConnectionError("the subscription ended")
            except Exception as exc:
                if lost_at is None:
                    lost_at = time.monotonic()
                log.error(
                    "realtime.pubsub_lost", channel=self.channel, error=repr(exc), retry_in=wait
                )
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
                await asyncio.sleep(wait * random.uniform(0.5, 1.0))
                wait = min(wait * 2, RESUBSCRIBE_MAX_WAIT)

    def _redis_connect(self) -> None:
        """Make a new pub/sub object, on a new Redis client only the first time.

        python-socketio builds a new client for each attempt, and after each failed
        publish, and leaves the old one with its open connection to the garbage collector.
        The client's pool replaces dropped connections by itself, so one client serves
        every attempt.

        NOTE: this replaces python-socketio 5.18's private ``_redis_connect``.
        """
        if self.redis is None:
            super()._redis_connect()
        else:
            self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            self.connected = True

    def _reset_local_sockets(self) -> None:
        """Close this process's sockets in the background, as if their transport dropped."""
        if self._reset_task is not None and not self._reset_task.done():
            # The new reset covers every socket again, including those the running one closed.
            self._reset_task.cancel()
        self._reset_task = asyncio.get_running_loop().create_task(
            _close_as_dropped(self.server.eio)
        )

    async def _listen(self) -> AsyncIterator[Any]:
        # python-socketio's listener ignores methods it does not know, so batches are taken
        # out here. Other messages go on decoded, which its listener accepts too.
        async for message in super()._listen():
            try:
                decoded = self.json.loads(message) if isinstance(message, str | bytes) else message
            except (ValueError, RecursionError) as exc:
                # Any Redis client can publish on this channel, so a message that does not
                # decode is dropped, as python-socketio's listener does. OrjsonCodec's fallback
                # parser raises RecursionError on deep JSON, which would end the subscription.
                log.warning("realtime.pubsub_message_invalid", error=repr(exc)[:200])
                continue
            if not isinstance(decoded, dict):
                # python-socketio's loop decodes strings again and checks `"method" in` the
                # result outside its error handling, so a number there restarts the listener.
                log.warning("realtime.pubsub_message_invalid", error="not a JSON object")
                continue
            if decoded.get("method") != EMIT_BATCH_METHOD:
                yield decoded
                continue
            if decoded.get("host_id") != self.host_id:
                await self._deliver_batch(decoded)

    async def _deliver_batch(self, message: dict[str, Any]) -> None:
        """Deliver a batch published by another process to this process's sockets.

        Entries that are not ``[event, data, room, skip_sid]`` as ``emit_batch`` publishes
        them are skipped, so that they cannot stop the delivery of the others.
        """
        host_id = str(message.get("host_id"))[:64]
        emits = message.get("emits")
        if not isinstance(emits, list):
            log.warning("realtime.emit_batch_invalid", host_id=host_id, error="emits is not a list")
            return
        entries = [entry for entry in emits if _is_emit_entry(entry)]
        if len(entries) < len(emits):
            log.warning(
                "realtime.emit_batch_invalid",
                host_id=host_id,
                error="entries that are not [event, data, room, skip_sid]",
                invalid=len(emits) - len(entries),
                entries=len(emits),
            )
        for event, data, room, skip_sid in entries:
            try:
                await InlineEmitManager.emit(self, event, data, "/", room=room, skip_sid=skip_sid)
            except Exception as exc:
                log.error("realtime.emit_batch_failed", event_name=event, error=repr(exc))


async def _close_as_dropped(server: Any) -> None:
    """Close every Engine.IO socket of ``server`` without a CLOSE packet.

    Clients see a dropped transport, after which socket.io clients reconnect. After a
    CLOSE packet the python-socketio client stays disconnected.
    """
    sockets = list(server.sockets.values())
    for socket in sockets:
        try:
            await socket.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)
        except Exception as exc:
            log.warning("realtime.socket_reset_failed", sid=socket.sid, error=repr(exc))
        # The end marker stops the socket's writer, which closes the WebSocket.
        socket.queue.put_nowait(None)
    log.warning("realtime.sockets_reset", sockets=len(sockets))


def _is_emit_entry(entry: Any) -> bool:
    """Tell whether ``entry`` is ``[event, data, room, skip_sid]`` with the types of an Emit.

    A room of None would make python-socketio send the event to every socket.
    """
    if not isinstance(entry, list) or len(entry) != 4:
        return False
    event, _, room, skip_sid = entry
    if isinstance(room, list):
        room_valid = bool(room) and all(isinstance(name, str) for name in room)
    else:
        room_valid = isinstance(room, str)
    return isinstance(event, str) and room_valid and (skip_sid is None or isinstance(skip_sid, str))


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
        manager: socketio.AsyncManager = InlineEmitRedisManager(
            url, channel=REDIS_CHANNEL, json=OrjsonCodec
        )
        log.info("realtime.manager_configured", manager="redis")
    else:
        manager = InlineEmitManager()
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

"""The WebSocket loop of each Engine.IO socket, with less work per packet.

python-engineio runs every WebSocket session with two loops. Its reader starts a task and
an ``asyncio.wait_for`` timer for every packet it receives, and its writer wraps every
``queue.get()`` in ``asyncio.wait_for``, which starts another task and timer per packet
sent. A chat message costs one received packet and two sent ones (the ack and the
`new_message` event), so three tasks and three timers that do nothing but wait.

``LeanWebSocket`` replaces the ASGI driver's WebSocket class, which engineio looks up in
its driver table when a socket upgrades. It runs the same session with plain queue reads
and one ``asyncio.timeout`` per socket, rescheduled around each wait:

- the handshake of an upgrade from long-polling is the same (probe ping, pong, upgrade),
  but it must finish within ping interval + ping timeout, and a second WebSocket for a
  session that is already moving over is rejected;
- the reader closes the session when nothing arrives for ping interval + ping timeout,
  as engineio's does, and stops reading once the socket is closed. Otherwise
  python-socketio would accept a namespace connect on the closed socket and keep that
  half-made session forever;
- the size limit counts the UTF-8 bytes of a text packet, not its characters;
- the writer sends the packets the socket queues, in order, and stops at the queue's end
  marker, after a failed send, or after a CLOSE packet;
- when the reader stops, the writer is stopped and the socket closed as a transport close.

NOTE: this follows python-engineio 4.15's ``AsyncSocket._websocket_handler`` and its ASGI
``WebSocket`` driver; check both when upgrading python-engineio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import engineio
import structlog
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

log = structlog.get_logger(__name__)

Handler = Callable[[Any], Awaitable[None]]


class LeanWebSocket:
    """The ASGI WebSocket of one Engine.IO session, called by engineio with the socket's handler."""

    def __init__(self, handler: Handler, server: engineio.AsyncServer) -> None:
        self.handler = handler
        self.server = server
        self._receive: Callable[[], Awaitable[MutableMapping[str, Any]]] | None = None
        self._send: Callable[[MutableMapping[str, Any]], Awaitable[None]] | None = None

    async def __call__(self, environ: dict[str, Any]) -> str:
        self._receive = environ["asgi.receive"]
        self._send = environ["asgi.send"]
        await self._send({"type": "websocket.accept"})
        socket = getattr(self.handler, "__self__", None)
        if type(socket) is AsyncSocket:
            await run_session(socket, self)
        else:
            # For a socket class this module does not know, engineio's own loop runs.
            await self.handler(self)
        # The session is over, and engineio sends no HTTP response after a WebSocket.
        return ""

    async def send(self, message: str | bytes) -> None:
        assert self._send is not None
        if isinstance(message, bytes):
            await self._send({"type": "websocket.send", "bytes": message})
        else:
            await self._send({"type": "websocket.send", "text": message})

    async def wait(self) -> str | bytes:
        """Return the next message, or raise OSError once the connection is closed."""
        assert self._receive is not None
        event = await self._receive()
        if event["type"] != "websocket.receive":
            raise OSError("websocket closed")
        text = event.get("text")
        if text is not None:
            return str(text)
        data = event.get("bytes")
        if data is not None:
            return bytes(data)
        raise OSError("websocket message without data")

    async def close(self) -> None:
        assert self._send is not None
        try:
            await self._send({"type": "websocket.close"})
        except Exception as exc:
            # The other side closed the connection first, so nothing is left to do.
            log.debug("realtime.close_after_disconnect", error=repr(exc))


async def run_session(socket: AsyncSocket, ws: LeanWebSocket) -> None:
    """Run ``socket``'s session over ``ws`` until either side ends it."""
    if socket.connected:
        if not await _upgrade(socket, ws):
            return
    else:
        socket.connected = True
        socket.upgraded = True

    writer = asyncio.get_running_loop().create_task(_write_queued(socket, ws))
    try:
        await _read(socket, ws)
    finally:
        # Also when the session's task is cancelled (a shutdown that ran out of time), so
        # that the writer stops and the disconnect handlers run. The end marker stops the
        # writer after what is already queued.
        socket.queue.put_nowait(None)
        try:
            await writer
        finally:
            await socket.close(wait=False, abort=True, reason=socket.server.reason.TRANSPORT_CLOSE)


async def _receive_limited(socket: AsyncSocket, ws: LeanWebSocket) -> str | bytes:
    data = await ws.wait()
    limit = socket.server.max_http_buffer_size
    # A character is at most 4 bytes of UTF-8, so only long texts need encoding to count.
    if len(data) > limit or (
        isinstance(data, str) and len(data) * 4 > limit and len(data.encode()) > limit
    ):
        raise ValueError("packet is too large")
    return data


async def _upgrade(socket: AsyncSocket, ws: LeanWebSocket) -> bool:
    """Move a long-polling socket to ``ws``, or return False when the client does not finish."""
    if socket.upgrading:
        # Another WebSocket is taking this session over, and two writers would split its queue.
        log.info("realtime.upgrade_rejected", sid=socket.sid, reason="upgrade in progress")
        return False
    # Sends wait in the queue until the upgrade is done.
    socket.upgrading = True
    server = socket.server
    try:
        # Polling requests get no packets meanwhile, so a client that stops here is gone.
        async with asyncio.timeout(server.ping_interval + server.ping_timeout):
            probe = eio_packet.Packet(encoded_packet=await _receive_limited(socket, ws))
            if probe.packet_type != eio_packet.PING or probe.data != "probe":
                socket.upgrading = False
                log.info("realtime.upgrade_failed", sid=socket.sid, reason="no probe ping")
                return False
            await ws.send(eio_packet.Packet(eio_packet.PONG, data="probe").encode())
            # Ends the long-polling request that is waiting, so the client moves over.
            await socket.queue.put(eio_packet.Packet(eio_packet.NOOP))
            upgrade = eio_packet.Packet(encoded_packet=await _receive_limited(socket, ws))
    except (OSError, ValueError, TimeoutError) as exc:
        socket.upgrading = False
        log.info("realtime.upgrade_failed", sid=socket.sid, error=repr(exc))
        return False
    socket.upgrading = False
    if upgrade.packet_type != eio_packet.UPGRADE:
        socket.upgraded = False
        log.info("realtime.upgrade_failed", sid=socket.sid, reason="no upgrade packet")
        return False
    socket.upgraded = True
    return True


async def _read(socket: AsyncSocket, ws: LeanWebSocket) -> None:
    """Hand each received packet to the socket until the client goes quiet or closes."""
    server = socket.server
    idle_seconds = server.ping_interval + server.ping_timeout
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(None) as deadline:
            while not socket.closed:
                # The deadline covers only the wait: a slow handler is not a silent client.
                deadline.reschedule(loop.time() + idle_seconds)
                try:
                    data = await _receive_limited(socket, ws)
                except (OSError, ValueError):
                    return
                deadline.reschedule(None)
                try:
                    await socket.receive(eio_packet.Packet(encoded_packet=data))
                except eio_exceptions.UnknownPacketError:
                    continue
                except eio_exceptions.SocketIsClosedError:
                    return
                except ValueError as exc:
                    # Any client can send a packet whose framing or JSON does not parse, so it
                    # gets one line without a traceback. The connection stays, as in engineio.
                    log.warning("realtime.packet_invalid", sid=socket.sid, error=repr(exc)[:200])
                except Exception:
                    # Logged with the traceback, and the connection stays, as in engineio.
                    log.exception("realtime.receive_failed", sid=socket.sid)
    except TimeoutError:
        return


async def _write_queued(socket: AsyncSocket, ws: LeanWebSocket) -> None:
    """Send the socket's queued packets in order until the end marker, then close ``ws``.

    After a CLOSE packet or a failed send, ``ws`` is closed at once and later packets are
    taken off the queue unsent, so that ``socket.close(wait=True)``, which waits for the
    queue to empty, still returns.
    """
    queue = socket.queue
    sending = True
    while True:
        packet = await queue.get()
        queue.task_done()
        if packet is None:
            break
        if not sending:
            continue
        try:
            await ws.send(packet.encode())
        except Exception as exc:
            # The connection went away under the send; the reader sees the disconnect.
            log.debug("realtime.send_failed", sid=socket.sid, error=repr(exc))
            sending = False
        if packet.packet_type == eio_packet.CLOSE:
            sending = False
        if not sending:
            await ws.close()
    if sending:
        await ws.close()


def install(server: engineio.AsyncServer) -> None:
    """Make ``server`` run its WebSocket sessions with ``LeanWebSocket``.

    The driver table is the module's own dict, shared by every engineio server of the
    process, so ``server`` gets a copy rather than a change to it.
    """
    server._async = {**server._async, "websocket": LeanWebSocket}

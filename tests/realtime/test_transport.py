"""The Engine.IO WebSocket loop (`taskgo.realtime.transport`) over real connections."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import engineio.async_drivers.asgi
import orjson
import pytest

from taskgo.realtime import transport, user_room
from taskgo.realtime.server import MAX_PACKET_BYTES, sio
from tests.conftest import MakeUser
from tests.realtime.fixtures import ConnectSocket, until

pytestmark = [pytest.mark.usefixtures("live_chat"), pytest.mark.timeout(60)]


@pytest.fixture
def short_pings(monkeypatch: pytest.MonkeyPatch) -> float:
    """Ping every 0.2 s, give up 0.3 s later, and return the silence a session tolerates."""
    monkeypatch.setattr(sio.eio, "ping_interval", 0.2)
    monkeypatch.setattr(sio.eio, "ping_timeout", 0.3)
    return 0.5


async def _open_raw(
    http: aiohttp.ClientSession, socket_server: str
) -> tuple[aiohttp.ClientWebSocketResponse, str]:
    """Open an Engine.IO WebSocket session by hand and return it with its Engine.IO sid."""
    ws = await http.ws_connect(
        f"{socket_server}/socket.io/?EIO=4&transport=websocket", autoping=True, compress=0
    )
    opened = await ws.receive_str(timeout=5)
    assert opened.startswith("0")
    return ws, str(orjson.loads(opened[1:])["sid"])


async def _closed_within(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> list[str]:
    """Read until the server closes ``ws`` and return the text frames it sent before."""
    frames: list[str] = []
    async with asyncio.timeout(seconds):
        while True:
            message = await ws.receive()
            if message.type == aiohttp.WSMsgType.TEXT:
                frames.append(message.data)
            elif message.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
            ):
                return frames


def _session_closed(eio_sid: str) -> bool:
    socket = sio.eio.sockets.get(eio_sid)
    return socket is None or bool(socket.closed)


def test_server_has_its_own_driver_table() -> None:
    assert sio.eio._async["websocket"] is transport.LeanWebSocket
    # Other engineio servers of the process keep the stock driver.
    assert engineio.async_drivers.asgi._async["websocket"] is engineio.async_drivers.asgi.WebSocket


async def test_silent_client_is_closed(
    socket_server: str, http: aiohttp.ClientSession, short_pings: float
) -> None:
    ws, eio_sid = await _open_raw(http, socket_server)
    started = time.monotonic()

    frames = await _closed_within(ws, 5)

    # Pings went unanswered, so the session ends once nothing arrived for 0.5 s.
    assert "2" in frames
    assert time.monotonic() - started >= short_pings * 0.9
    await until(lambda: _session_closed(eio_sid), 2)


async def test_client_sending_pongs_stays_connected(
    socket_server: str, http: aiohttp.ClientSession, short_pings: float
) -> None:
    ws, eio_sid = await _open_raw(http, socket_server)
    pings = 0

    # Three times the silence a session tolerates, with a pong for every ping.
    deadline = time.monotonic() + 3 * short_pings
    while time.monotonic() < deadline:
        try:
            message = await ws.receive(timeout=deadline - time.monotonic())
        except TimeoutError:
            break
        assert message.type == aiohttp.WSMsgType.TEXT, message
        if message.data == "2":
            pings += 1
            await ws.send_str("3")

    assert pings >= 3
    assert not ws.closed
    assert not sio.eio.sockets[eio_sid].closed
    await ws.close()


async def test_server_close_ends_open_connection(
    socket_server: str, http: aiohttp.ClientSession
) -> None:
    ws, eio_sid = await _open_raw(http, socket_server)

    # The client ignores the CLOSE packet, so the server closes the connection itself.
    async with asyncio.timeout(5):
        await sio.eio.disconnect(eio_sid)
    frames = await _closed_within(ws, 5)

    assert frames[-1] == "1"


async def test_oversized_packet_closes_connection(
    socket_server: str, http: aiohttp.ClientSession
) -> None:
    ws, eio_sid = await _open_raw(http, socket_server)

    await ws.send_str("4" + "x" * MAX_PACKET_BYTES)
    await _closed_within(ws, 5)

    await until(lambda: _session_closed(eio_sid), 2)


async def test_events_ordered_across_upgrade(
    connect_socket: ConnectSocket, make_live_user: MakeUser, token_for: Any
) -> None:
    user = await make_live_user()
    socket = await connect_socket(
        auth={"token": token_for(user)}, transport="polling", upgrade_to_websocket=True
    )

    # Sent while the client is still on long-polling and moving to the WebSocket.
    for index in range(100):
        await sio.emit("counted", {"n": index}, room=user_room(user.id))
    received = await socket.inbox.wait_for("counted", 100)
    await until(lambda: socket.client.transport() == "websocket", 5)
    for index in range(100, 300):
        await sio.emit("counted", {"n": index}, room=user_room(user.id))
    received = await socket.inbox.wait_for("counted", 300)
    reply = await socket.call("no_such_event", {})

    assert [event["n"] for event in received] == list(range(300))
    assert reply["error"]["code"] == "realtime.unknown_event"

"""Hostile and unlucky clients against the Engine.IO WebSocket loop (`realtime.transport`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import aiohttp
import orjson
import pytest

from taskgo.realtime import presence, user_room
from taskgo.realtime.server import MAX_PACKET_BYTES, sio
from tests.conftest import MakeUser
from tests.realtime.fixtures import ConnectSocket, until

pytestmark = [pytest.mark.usefixtures("live_chat"), pytest.mark.timeout(60)]

Socket = aiohttp.ClientWebSocketResponse
ENDED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)


def _state() -> tuple[int, int, int]:
    """Count Socket.IO sessions (pending ones too), presence entries and open Engine.IO sockets."""
    sessions = len(sio.manager.rooms.get("/", {}).get(None, {}))
    open_sockets = sum(1 for socket in sio.eio.sockets.values() if not socket.closed)
    return sessions, len(presence._state.sockets), open_sockets


async def _until_closed(ws: Socket, seconds: float = 3) -> None:
    """Read from ``ws`` until the server closes it."""
    async with asyncio.timeout(seconds):
        while (await ws.receive()).type not in ENDED:
            pass


def _connect_packet(token: str) -> str:
    return "40" + orjson.dumps({"token": token}).decode()


async def _open_ws(http: aiohttp.ClientSession, base: str, token: str) -> tuple[Socket, str]:
    """Connect a raw WebSocket and its Socket.IO namespace, and return it with its Engine.IO sid."""
    ws = await http.ws_connect(f"{base}/socket.io/?EIO=4&transport=websocket", max_msg_size=0)
    eio_sid = str(orjson.loads((await ws.receive_str(timeout=5))[1:])["sid"])
    await ws.send_str(_connect_packet(token))
    assert (await ws.receive_str(timeout=5)).startswith("40{")
    return ws, eio_sid


async def _open_polling(http: aiohttp.ClientSession, base: str, token: str) -> tuple[str, str]:
    """Connect over long-polling and return the Engine.IO sid and the session's polling URL."""
    async with http.get(f"{base}/socket.io/?EIO=4&transport=polling") as response:
        eio_sid = str(orjson.loads((await response.text())[1:])["sid"])
    url = f"{base}/socket.io/?EIO=4&transport=polling&sid={eio_sid}"
    async with http.post(url, data=_connect_packet(token)) as response:
        assert response.status == 200
    async with http.get(url) as response:
        assert (await response.text()).startswith("40{")
    return eio_sid, url


async def _upgrade_ws(http: aiohttp.ClientSession, base: str, eio_sid: str) -> Socket:
    return await http.ws_connect(f"{base}/socket.io/?EIO=4&transport=websocket&sid={eio_sid}")


async def _next_event(ws: Socket, seconds: float = 3) -> str:
    """Return the next Socket.IO packet, skipping Engine.IO NOOPs and pings."""
    async with asyncio.timeout(seconds):
        while True:
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.TEXT, message
            if message.data.startswith("4"):
                return str(message.data)


async def _send_quietly(ws: Socket, data: str) -> None:
    """Send ``data``, ignoring a connection that is already closing."""
    with contextlib.suppress(ConnectionError):
        await ws.send_str(data)


async def _ack_of_unknown_event(ws: Socket) -> str:
    await ws.send_str('427["no_such_event",{}]')
    return await _next_event(ws)


async def _check_logged_as_invalid(
    ws: Socket, caplog: pytest.LogCaptureFixture, frames: list[str | bytes], *, count: int
) -> None:
    """Send ``frames``, then check the session still replies and each was one warning."""
    caplog.set_level(logging.WARNING)
    for frame in frames:
        await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))
    reply = await _ack_of_unknown_event(ws)

    # structlog passes its events to the standard library, where caplog records them.
    invalid = [r for r in caplog.records if "realtime.packet_invalid" in r.getMessage()]
    assert '"realtime.unknown_event"' in reply
    assert len(invalid) == count
    assert all(record.levelno == logging.WARNING for record in invalid)
    # python-engineio logs a failed message handler through the standard library too.
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_no_reads_after_client_close_packet(
    socket_server: str, http: aiohttp.ClientSession, make_live_user: MakeUser, token_for: Any
) -> None:
    user = await make_live_user()
    before = _state()
    ws, _ = await _open_ws(http, socket_server, token_for(user))

    # A CLOSE packet ends the session, so a namespace connect after it must not open another.
    await ws.send_str("1")
    await _send_quietly(ws, _connect_packet(token_for(user)))
    await asyncio.sleep(0.5)
    await ws.close()

    await until(lambda: _state() == before, 3)
    assert sio.manager.pending_connect.get("/", []) == []


async def test_stalled_upgrade_gives_up(
    socket_server: str,
    http: aiohttp.ClientSession,
    make_live_user: MakeUser,
    token_for: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = await make_live_user()
    eio_sid, _ = await _open_polling(http, socket_server, token_for(user))
    socket = sio.eio.sockets[eio_sid]
    # Short pings (0.5 s of silence allowed) only after the polling handshake, so that it
    # cannot time out. The client never sends a pong.
    monkeypatch.setattr(sio.eio, "ping_interval", 0.2)
    monkeypatch.setattr(sio.eio, "ping_timeout", 0.3)
    ws = await _upgrade_ws(http, socket_server, eio_sid)
    await ws.send_str("2probe")
    assert await ws.receive_str(timeout=3) == "3probe"

    # No UPGRADE packet follows, so the server has to give up on the upgrade.
    await _until_closed(ws)

    assert not socket.upgrading


async def test_oversized_packet_counted_in_bytes(
    socket_server: str, http: aiohttp.ClientSession, make_live_user: MakeUser, token_for: Any
) -> None:
    user = await make_live_user()
    ws, eio_sid = await _open_ws(http, socket_server, token_for(user))
    text = "\U0001f600" * (MAX_PACKET_BYTES // 4 + 1000)
    assert len(text) < MAX_PACKET_BYTES
    assert len(text.encode()) > MAX_PACKET_BYTES

    await ws.send_str(f'42["no_such_event","{text}"]')

    await _until_closed(ws)
    await until(lambda: eio_sid not in sio.eio.sockets or sio.eio.sockets[eio_sid].closed, 2)


async def test_second_upgrade_does_not_end_session(
    socket_server: str, http: aiohttp.ClientSession, make_live_user: MakeUser, token_for: Any
) -> None:
    user = await make_live_user()
    eio_sid, _ = await _open_polling(http, socket_server, token_for(user))
    first = await _upgrade_ws(http, socket_server, eio_sid)
    second = await _upgrade_ws(http, socket_server, eio_sid)
    await first.send_str("2probe")
    assert await first.receive_str(timeout=3) == "3probe"

    # Another WebSocket for the same session, upgraded at the same time, then gone.
    await _send_quietly(second, "2probe")
    with contextlib.suppress(TimeoutError):
        if (await second.receive(timeout=1)).data == "3probe":
            await _send_quietly(second, "5")
    await first.send_str("5")
    await second.close()
    await asyncio.sleep(0.3)

    await sio.emit("still_here", {"n": 1}, room=user_room(user.id))
    assert await _next_event(first) == '42["still_here",{"n":1}]'
    assert not sio.eio.sockets[eio_sid].closed
    await first.close()


@pytest.mark.parametrize("client_move", ["bad_probe", "drop_after_probe", "event_not_upgrade"])
async def test_failed_upgrade_falls_back_to_polling(
    client_move: str,
    socket_server: str,
    http: aiohttp.ClientSession,
    make_live_user: MakeUser,
    token_for: Any,
) -> None:
    user = await make_live_user()
    eio_sid, url = await _open_polling(http, socket_server, token_for(user))
    ws = await _upgrade_ws(http, socket_server, eio_sid)
    await ws.send_str("2prob" if client_move == "bad_probe" else "2probe")
    if client_move != "bad_probe":
        assert await ws.receive_str(timeout=3) == "3probe"
        if client_move == "drop_after_probe":
            await ws.close()
        else:
            await ws.send_str('42["no_such_event",{}]')
    assert (await ws.receive(timeout=3)).type in ENDED

    await sio.emit("after_upgrade", {"n": 1}, room=user_room(user.id))
    async with asyncio.timeout(3), http.get(url) as response:
        assert '42["after_upgrade",{"n":1}]' in await response.text()
    assert not sio.eio.sockets[eio_sid].upgraded


@pytest.mark.parametrize("frame", ["", b"", b"\x00", "9", "x", "b!!", "42[", "6", "2"])
async def test_garbage_packet_keeps_session(
    frame: str | bytes,
    socket_server: str,
    http: aiohttp.ClientSession,
    make_live_user: MakeUser,
    token_for: Any,
) -> None:
    user = await make_live_user()
    ws, _ = await _open_ws(http, socket_server, token_for(user))

    await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))

    assert '"realtime.unknown_event"' in await _ack_of_unknown_event(ws)
    await ws.close()


async def test_slow_consumer_does_not_stall_others(
    socket_server: str,
    http: aiohttp.ClientSession,
    connect_socket: ConnectSocket,
    make_live_user: MakeUser,
    token_for: Any,
) -> None:
    slow_user, other_user = await make_live_user(), await make_live_user()
    slow, eio_sid = await _open_ws(http, socket_server, token_for(slow_user))
    other = await connect_socket(auth={"token": token_for(other_user)})

    # About 25 MB to a client that reads nothing. The queue check below shows that the
    # buffers filled up and the writer is blocked.
    for index in range(400):
        await sio.emit("flood", {"n": index, "pad": "p" * 64_000}, room=user_room(slow_user.id))
    await asyncio.sleep(0.5)
    started = time.monotonic()
    reply = await other.call("no_such_event", {})

    assert time.monotonic() - started < 1
    assert reply["error"]["code"] == "realtime.unknown_event"
    assert sio.eio.sockets[eio_sid].queue.qsize() > 0
    # The client vanishes with the flood half sent.
    slow._response.connection.transport.abort()  # type: ignore[union-attr]
    await until(lambda: sio.eio.sockets.get(eio_sid) is None or sio.eio.sockets[eio_sid].closed, 5)


async def test_parallel_closes_racing_server_disconnects(
    socket_server: str, http: aiohttp.ClientSession, make_live_user: MakeUser, token_for: Any
) -> None:
    user = await make_live_user()
    before = _state()

    async def connect_and_end(index: int) -> None:
        ws, eio_sid = await _open_ws(http, socket_server, token_for(user))
        await sio.emit("hello", {"n": index}, room=user_room(user.id))
        sid = sio.manager.sid_from_eio_sid(eio_sid, "/")
        racing = [
            lambda: sio.disconnect(sid),
            lambda: sio.eio.disconnect(eio_sid),
            lambda: _send_quietly(ws, "1"),
        ]
        await asyncio.gather(ws.close(), racing[index % 3]())

    async with asyncio.timeout(30):
        await asyncio.gather(*(connect_and_end(index) for index in range(60)))

    await until(lambda: _state() == before, 5)


def _session_task(eio_sid: str) -> asyncio.Task[Any]:
    """Find the task that runs the WebSocket session of ``eio_sid``."""
    for task in asyncio.all_tasks():
        # Follow the chain of awaited coroutines down from the task's own.
        awaited: Any = task.get_coro()
        while awaited is not None:
            frame = getattr(awaited, "cr_frame", None)
            if frame is not None and frame.f_code.co_name == "run_session":
                if getattr(frame.f_locals.get("socket"), "sid", None) == eio_sid:
                    return task
            awaited = getattr(awaited, "cr_await", None)
    raise AssertionError(f"no session task for {eio_sid}")


async def test_cancelled_session_still_cleans_up(
    socket_server: str, http: aiohttp.ClientSession, make_live_user: MakeUser, token_for: Any
) -> None:
    user = await make_live_user()
    before = _state()
    ws, eio_sid = await _open_ws(http, socket_server, token_for(user))

    # As when a shutdown runs out of time and uvicorn cancels the connection's task.
    _session_task(eio_sid).cancel()

    await until(lambda: _state() == before, 3)
    assert await presence.online_users([user.id]) == set()
    await ws.close()


async def test_unparsable_packet_logged_without_traceback(
    socket_server: str,
    http: aiohttp.ClientSession,
    make_live_user: MakeUser,
    token_for: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = await make_live_user()
    ws, _ = await _open_ws(http, socket_server, token_for(user))

    await _check_logged_as_invalid(ws, caplog, ["x", "", '42["send_message",{'], count=3)

    assert not [r for r in caplog.records if "realtime.receive_failed" in r.getMessage()]
    await ws.close()


@pytest.mark.parametrize("event", ["disconnect", "connect"])
async def test_client_cannot_run_lifecycle_handlers(
    event: str,
    socket_server: str,
    http: aiohttp.ClientSession,
    make_live_user: MakeUser,
    token_for: Any,
) -> None:
    from taskgo.realtime import gateway

    user = await make_live_user()
    ws, eio_sid = await _open_ws(http, socket_server, token_for(user))
    sid = sio.manager.sid_from_eio_sid(eio_sid, "/")

    # python-socketio alone runs the server's own handler for these names, and "disconnect"
    # then cancels the token expiry timer while the socket stays open.
    await ws.send_str(f'425["{event}",{{"token":"x"}},"y"]')
    reply = await _next_event(ws)

    assert reply.startswith("435[")
    assert orjson.loads(reply[3:])[0]["error"]["code"] == "realtime.unknown_event"
    assert sid in gateway._expiries
    assert await presence.online_users([user.id]) == {user.id}
    assert (await sio.get_session(sid))["user_id"] == user.id
    await ws.close()


DEEP = 5_000


@pytest.mark.parametrize(
    "frame",
    [
        "42[]",
        "42{}",
        '42"x"',
        "421[1]",
        "42[null,{}]",
        "421",
        "42" + "[" * DEEP + "]" * DEEP,
        '42["x",' + "[" * DEEP + "]" * DEEP + "]",
    ],
    ids=["empty", "object", "string", "number", "null", "no_data", "deep", "deep_argument"],
)
async def test_malformed_event_logged_as_invalid(
    frame: str,
    socket_server: str,
    http: aiohttp.ClientSession,
    make_live_user: MakeUser,
    token_for: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = await make_live_user()
    ws, _ = await _open_ws(http, socket_server, token_for(user))

    await _check_logged_as_invalid(ws, caplog, [frame], count=1)
    await ws.close()


@pytest.mark.parametrize("arguments", ["", ",{}", ',"OTHER_SID"'])
async def test_star_event_gets_unknown_reply(
    arguments: str,
    socket_server: str,
    http: aiohttp.ClientSession,
    make_live_user: MakeUser,
    token_for: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = await make_live_user()
    ws, _ = await _open_ws(http, socket_server, token_for(user))
    other, other_eio_sid = await _open_ws(http, socket_server, token_for(user))
    other_sid = sio.manager.sid_from_eio_sid(other_eio_sid, "/")
    caplog.set_level(logging.WARNING)

    # python-socketio alone calls the handler registered as "*" without the event name for an
    # event of that name, so the handler takes the socket id for the name and the first
    # argument for the socket id.
    await ws.send_str(f'425["*"{arguments.replace("OTHER_SID", other_sid)}]')
    reply = await _next_event(ws)

    assert reply.startswith("435[")
    error = orjson.loads(reply[3:])[0]["error"]
    assert error["code"] == "realtime.unknown_event"
    assert error["details"] == {"event": "*"}
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    await ws.close()
    await other.close()


@pytest.mark.parametrize(
    "frames",
    [
        ["44"],
        ["44{}"],
        ["49"],
        ['451-["x",{"_placeholder":true,"num":3}]', b"\x01"],
        ["45"],
        ['451-["x",{"_placeholder":true,"num":0}]'],
    ],
    ids=[
        "connect_error",
        "connect_error_data",
        "unknown_type",
        "placeholder_out_of_range",
        "binary_without_attachments",
        "text_for_attachment",
    ],
)
async def test_bad_packet_keeps_session(
    frames: list[str | bytes],
    socket_server: str,
    http: aiohttp.ClientSession,
    make_live_user: MakeUser,
    token_for: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = await make_live_user()
    ws, _ = await _open_ws(http, socket_server, token_for(user))

    # The text_for_attachment case sends the check's call where its attachment was due.
    await _check_logged_as_invalid(ws, caplog, frames, count=1)
    await ws.close()


async def test_binary_attachment_still_accepted(
    socket_server: str, http: aiohttp.ClientSession, make_live_user: MakeUser, token_for: Any
) -> None:
    user = await make_live_user()
    ws, _ = await _open_ws(http, socket_server, token_for(user))

    await ws.send_str('451-4["no_such_event",{"_placeholder":true,"num":0}]')
    await ws.send_bytes(b"\x01\x02")
    reply = await _next_event(ws)

    assert reply.startswith("434[")
    assert '"realtime.unknown_event"' in reply
    await ws.close()

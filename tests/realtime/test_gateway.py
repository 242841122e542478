import asyncio
import contextlib
import logging
import time
from typing import Any

import pytest
import socketio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from taskgo.db.session import session_scope
from taskgo.realtime import emit_after_commit, emit_now, presence, user_room
from taskgo.realtime import gateway as gateway_module
from taskgo.realtime.server import _close_as_dropped, sio
from tests.conftest import MakeUser
from tests.realtime.fixtures import ConnectSocket, until

pytestmark = [pytest.mark.usefixtures("live_chat"), pytest.mark.timeout(60)]


def _room_members() -> int:
    rooms = sio.manager.rooms.get("/", {})
    return sum(len(members) for name, members in rooms.items() if name is not None)


def _server_state() -> tuple[int, int, int]:
    return _room_members(), len(presence._state.sockets), len(gateway_module._expiries)


async def _rejected(connect_socket: ConnectSocket, **kwargs: Any) -> dict[str, Any]:
    rejected: list[Any] = []
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect_socket(rejected=rejected, **kwargs)
    assert len(rejected) == 1
    data = rejected[0]
    assert isinstance(data, dict)
    return data


async def test_connect_without_token_rejected(connect_socket: ConnectSocket) -> None:
    before = _server_state()

    data = await _rejected(connect_socket)

    assert data["data"] == {"code": "auth.missing_token"}
    assert data["message"]
    assert _server_state() == before


async def test_connect_with_garbage_token_rejected(connect_socket: ConnectSocket) -> None:
    before = _server_state()

    data = await _rejected(connect_socket, auth={"token": "not-a-jwt"})

    assert data["data"]["code"].startswith("auth.")
    assert data["data"]["code"] != "auth.missing_token"
    assert _server_state() == before


async def test_connect_with_expired_token_rejected(
    connect_socket: ConnectSocket, make_live_user: MakeUser, token_for: Any
) -> None:
    user = await make_live_user()
    before = _server_state()

    # Beyond the verifier's 60 s clock-skew allowance.
    data = await _rejected(connect_socket, auth={"token": token_for(user, ttl_seconds=-120)})

    assert data["data"] == {"code": "auth.token_expired"}
    assert _server_state() == before


async def test_rejection_message_follows_accept_language(connect_socket: ConnectSocket) -> None:
    english = await _rejected(connect_socket, headers={"Accept-Language": "en-US,en;q=0.9"})
    portuguese = await _rejected(connect_socket)
    from_auth = await _rejected(connect_socket, auth={"locale": "en"})

    assert english["data"] == portuguese["data"]
    assert english["message"] != portuguese["message"]
    assert from_auth["message"] == english["message"]


async def test_connect_joins_user_room(
    connect_socket: ConnectSocket, make_live_user: MakeUser, token_for: Any
) -> None:
    user = await make_live_user()
    other = await make_live_user()
    mine = await connect_socket(auth={"token": token_for(user)})
    second_device = await connect_socket(auth={"token": token_for(user)}, transport="polling")
    theirs = await connect_socket(auth={"token": token_for(other)})

    delivered = await emit_now("notification", {"title": "Olá"}, room=user_room(user.id))

    assert delivered is True
    assert await mine.inbox.wait_for("notification") == [{"title": "Olá"}]
    assert await second_device.inbox.wait_for("notification") == [{"title": "Olá"}]
    await theirs.inbox.settle()
    assert theirs.inbox.events["notification"] == []
    assert user.id in await presence.online_users([user.id, other.id])


async def test_disconnect_clears_presence(
    connect_socket: ConnectSocket, make_live_user: MakeUser, token_for: Any
) -> None:
    user = await make_live_user()
    socket = await connect_socket(auth={"token": token_for(user)})
    assert await presence.online_users([user.id]) == {user.id}

    await socket.client.disconnect()
    await asyncio.sleep(0.2)

    assert await presence.online_users([user.id]) == set()
    assert socket.client.sid not in gateway_module._expiries


async def test_drop_during_connect_undone(
    socket_server: str,
    make_live_user: MakeUser,
    token_for: Any,
    engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    user = await make_live_user()
    client = socketio.AsyncClient(reconnection=False)

    async with engine.connect() as holder:
        transaction = await holder.begin()
        # Authentication reads the users table, so the connect handler waits here.
        await holder.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
        connecting = asyncio.ensure_future(
            client.connect(socket_server, auth={"token": token_for(user)}, transports=["websocket"])
        )
        await until(lambda: bool(sio.manager.pending_connect.get("/")), 5)
        (sid,) = sio.manager.pending_connect["/"]
        eio_sid = sio.manager.eio_sid_from_sid(sid, "/")
        # The server closes the socket while the handler waits, as after a Redis outage.
        await _close_as_dropped(sio.eio)
        assert sio.eio.sockets[eio_sid].closed
        await transaction.rollback()

    with contextlib.suppress(Exception):
        await connecting
    await until(lambda: sid not in sio.manager.rooms.get("/", {}).get(None, {}), 5)

    assert sid not in sio.manager.pending_connect.get("/", [])
    assert not sio.manager.is_connected(sid, "/")
    assert sid not in gateway_module._expiries
    assert await presence.online_users([user.id]) == set()
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_emit_after_commit_waits_for_commit(
    connect_socket: ConnectSocket, make_live_user: MakeUser, token_for: Any
) -> None:
    user = await make_live_user()
    socket = await connect_socket(auth={"token": token_for(user)})

    with pytest.raises(RuntimeError):
        async with session_scope() as session:
            emit_after_commit(
                session, "purchase_updated", {"status": "rolled"}, room=user_room(user.id)
            )
            raise RuntimeError("abort the transaction")

    session_seen: list[AsyncSession] = []
    async with session_scope() as session:
        emit_after_commit(session, "purchase_updated", {"status": "paid"}, room=user_room(user.id))
        session_seen.append(session)
        await asyncio.sleep(0.2)
        # Still inside the transaction: nothing may have been sent yet.
        assert socket.inbox.events["purchase_updated"] == []

    assert await socket.inbox.wait_for("purchase_updated") == [{"status": "paid"}]
    await socket.inbox.settle()
    assert socket.inbox.events["purchase_updated"] == [{"status": "paid"}]


async def test_emit_to_several_rooms_once(
    connect_socket: ConnectSocket, make_live_user: MakeUser, token_for: Any
) -> None:
    user = await make_live_user()
    socket = await connect_socket(auth={"token": token_for(user)})
    await sio.enter_room(socket.client.get_sid(), "conversation:test-room")

    await emit_now("tracking_update", {"n": 1}, room=["conversation:test-room", user_room(user.id)])

    await socket.inbox.wait_for("tracking_update")
    await socket.inbox.settle()
    assert socket.inbox.events["tracking_update"] == [{"n": 1}]


async def test_emit_payload_types_serialized(
    connect_socket: ConnectSocket, make_live_user: MakeUser, token_for: Any
) -> None:
    import datetime
    import decimal
    import uuid

    user = await make_live_user()
    socket = await connect_socket(auth={"token": token_for(user)})
    moment = datetime.datetime(2025, 3, 1, 12, 30, tzinfo=datetime.UTC)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")

    await emit_now(
        "x",
        {"id": ident, "at": moment, "amount": decimal.Decimal("10.50")},
        room=user_room(user.id),
    )

    received = (await socket.inbox.wait_for("x"))[0]
    assert received == {
        "id": "12345678-1234-5678-1234-567812345678",
        "at": "2025-03-01T12:30:00+00:00",
        "amount": "10.50",
    }


async def test_emit_unserializable_payload_raises(make_live_user: MakeUser) -> None:
    async with session_scope() as session:
        with pytest.raises(TypeError):
            emit_after_commit(session, "x", {"bad": object()}, room="user:nobody")


async def test_token_expiry_ends_session(
    connect_socket: ConnectSocket, make_live_user: MakeUser, token_for: Any
) -> None:
    user = await make_live_user()
    socket = await connect_socket(auth={"token": token_for(user, ttl_seconds=2)})
    sid = socket.client.get_sid()

    # Inside the warning window from the start, so the warning comes at once.
    warning = await socket.inbox.wait_for("session_expiring", wait_seconds=2)
    expired = await socket.inbox.wait_for("session_expired", wait_seconds=6)
    await socket.inbox.wait_for("__disconnect__", wait_seconds=3)

    assert "expiresAt" in warning[0]
    assert expired[0]["code"] == "auth.token_expired"
    assert expired[0]["message"]
    assert not socket.client.connected
    assert sid not in gateway_module._expiries
    assert await presence.online_users([user.id]) == set()


async def test_reauthenticate_extends_session(
    connect_socket: ConnectSocket, make_live_user: MakeUser, token_for: Any
) -> None:
    user = await make_live_user()
    socket = await connect_socket(auth={"token": token_for(user, ttl_seconds=2)})

    reply = await socket.call("reauthenticate", {"token": token_for(user, ttl_seconds=3600)})
    await asyncio.sleep(3)

    assert reply["ok"] is True
    assert reply["expiresAt"] > time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    assert socket.client.connected
    assert socket.inbox.events["session_expired"] == []


async def test_reauthenticate_other_user_rejected(
    connect_socket: ConnectSocket, make_live_user: MakeUser, token_for: Any
) -> None:
    user = await make_live_user()
    other = await make_live_user()
    socket = await connect_socket(auth={"token": token_for(user, ttl_seconds=3600)})

    mismatch = await socket.call("reauthenticate", {"token": token_for(other)})
    missing = await socket.call("reauthenticate", {})

    assert mismatch["error"]["code"] == "realtime.user_mismatch"
    assert missing["error"]["code"] == "auth.missing_token"
    assert socket.client.connected


async def test_extra_arguments_still_acked(
    connect_socket: ConnectSocket, make_live_user: MakeUser, token_for: Any
) -> None:
    user = await make_live_user()
    socket = await connect_socket(auth={"token": token_for(user, ttl_seconds=3600)})

    reply = await socket.client.call(
        "reauthenticate", ({"token": token_for(user, ttl_seconds=3600)}, 1), timeout=5
    )

    assert reply["ok"] is True


async def test_unknown_event_gets_error_ack(
    connect_socket: ConnectSocket, make_live_user: MakeUser, token_for: Any
) -> None:
    user = await make_live_user()
    socket = await connect_socket(
        auth={"token": token_for(user, ttl_seconds=3600)}, headers={"Accept-Language": "en"}
    )

    reply = await socket.call("no_such_event", {"x": 1})

    assert reply["error"]["code"] == "realtime.unknown_event"
    assert reply["error"]["message"] == "Unknown event: no_such_event."
    assert socket.client.connected

"""Two `taskgo serve` processes sharing one Redis and one PostgreSQL database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
import redis.asyncio as aioredis
from sqlalchemy import select

from taskgo.chat import service
from taskgo.db.session import session_scope
from taskgo.realtime.codec import OrjsonCodec
from taskgo.realtime.server import EMIT_BATCH_METHOD, Emit, InlineEmitRedisManager, sio
from taskgo.users.models import User
from tests.conftest import MakeUser
from tests.realtime.fixtures import ConnectSocket, TestSocket, until

REDIS_URL = "redis://127.0.0.1:6379/0"
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.usefixtures("live_chat"), pytest.mark.timeout(120)]


def _redis_reachable() -> str | None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except (redis.RedisError, OSError) as exc:
        return f"Redis at 127.0.0.1:6379 is not reachable ({exc!r}); the two-process test needs it"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], *, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server at {url} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not become healthy within {seconds:.0f} s")


def _environment() -> dict[str, str]:
    # The `settings` fixture exported the test database, dev auth and its signing key.
    environment = dict(os.environ)
    environment.update({"REDIS_URL": REDIS_URL, "LOG_LEVEL": "WARNING"})
    return environment


@pytest.fixture(scope="module")
def two_servers(settings: Any) -> Iterator[tuple[str, str]]:
    reason = _redis_reachable()
    if reason is not None:
        pytest.skip(reason)

    urls: list[str] = []
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(2):
            port = _free_port()
            process = subprocess.Popen(  # noqa: S603 - our own entry point and a port number
                [
                    str(ROOT / ".venv" / "bin" / "taskgo"),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                env=_environment(),
                cwd=ROOT,
            )
            processes.append(process)
            urls.append(f"http://127.0.0.1:{port}")
        for url, process in zip(urls, processes, strict=True):
            _wait_healthy(url, process)
        yield urls[0], urls[1]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


async def _chat(make_live_user: MakeUser) -> tuple[uuid.UUID, User, User]:
    buyer = await make_live_user(name="Bruna")
    seller = await make_live_user(role="partner", name="Sérgio")
    async with session_scope() as session:
        conversation = await service.get_or_create_order_conversation(
            session, purchase_id=uuid.uuid4(), buyer_id=buyer.id, seller_id=seller.id
        )
    return conversation.id, buyer, seller


async def _join(
    connect_socket: ConnectSocket, token_for: Any, user: User, url: str, conversation_id: uuid.UUID
) -> TestSocket:
    socket_ = await connect_socket(auth={"token": token_for(user)}, url=url)
    reply = await socket_.call("join_conversation", {"conversationId": str(conversation_id)})
    assert reply == {"ok": True}
    return socket_


async def _send_all(sender: TestSocket, conversation_id: uuid.UUID, prefix: str) -> list[str]:
    ids = []
    for index in range(10):
        ack = await sender.call(
            "send_message",
            {
                "conversationId": str(conversation_id),
                "body": f"{prefix}{index}",
                "clientMessageId": f"{prefix}-{index}",
            },
        )
        ids.append(ack["id"])
    return ids


async def _push_bodies(user: User, *, expected: int = 0) -> list[str]:
    """Return the user's chat notifications, waiting up to 5 s for ``expected`` of them."""
    from taskgo.notifications.models import Notification

    bodies: list[str] = []
    for _ in range(50):
        async with session_scope() as session:
            result = await session.scalars(
                select(Notification.body).where(
                    Notification.user_id == user.id, Notification.kind == "chat_message"
                )
            )
            bodies = list(result)
        if len(bodies) >= expected:
            break
        await asyncio.sleep(0.1)
    return bodies


async def test_messages_cross_processes_once(
    two_servers: tuple[str, str],
    connect_socket: ConnectSocket,
    token_for: Any,
    make_live_user: MakeUser,
) -> None:
    first, second = two_servers
    conversation_id, buyer_user, seller_user = await _chat(make_live_user)
    buyer = await _join(connect_socket, token_for, buyer_user, first, conversation_id)
    seller = await _join(connect_socket, token_for, seller_user, second, conversation_id)

    from_buyer = await _send_all(buyer, conversation_id, "b")
    from_seller = await _send_all(seller, conversation_id, "s")

    at_seller = await seller.inbox.wait_for("new_message", 10)
    at_buyer = await buyer.inbox.wait_for("new_message", 10)
    await asyncio.sleep(1)
    assert [event["id"] for event in seller.inbox.events["new_message"]] == from_buyer
    assert [event["id"] for event in buyer.inbox.events["new_message"]] == from_seller
    assert [event["body"] for event in at_seller] == [f"b{index}" for index in range(10)]
    assert [event["body"] for event in at_buyer] == [f"s{index}" for index in range(10)]
    # Both were connected, on different processes: presence is shared, so no push.
    assert await _push_bodies(seller_user) == []
    assert await _push_bodies(buyer_user) == []


async def test_job_events_cross_processes_once(
    two_servers: tuple[str, str],
    connect_socket: ConnectSocket,
    token_for: Any,
    make_live_user: MakeUser,
) -> None:
    first, second = two_servers
    _, buyer_user, seller_user = await _chat(make_live_user)
    buyer = await connect_socket(auth={"token": token_for(buyer_user)}, url=first)
    seller = await connect_socket(auth={"token": token_for(seller_user)}, url=second)

    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.realtime.job_emitter",
        str(buyer_user.id),
        str(seller_user.id),
        env=_environment(),
        cwd=ROOT,
    )
    assert await asyncio.wait_for(worker.wait(), 60) == 0

    for receiver in (buyer, seller):
        await receiver.inbox.wait_for("notification")
        await receiver.inbox.wait_for("tracking_update")
    await asyncio.sleep(1)
    for receiver in (buyer, seller):
        notifications = receiver.inbox.events["notification"]
        assert len(notifications) == 1
        assert notifications[0]["kind"] == "chat_message"
        assert notifications[0]["data"] == {"source": "job"}
        assert len(receiver.inbox.events["tracking_update"]) == 1


async def test_push_follows_shared_presence(
    two_servers: tuple[str, str],
    connect_socket: ConnectSocket,
    token_for: Any,
    make_live_user: MakeUser,
) -> None:
    first, second = two_servers
    conversation_id, buyer_user, seller_user = await _chat(make_live_user)
    buyer = await _join(connect_socket, token_for, buyer_user, first, conversation_id)
    seller = await connect_socket(auth={"token": token_for(seller_user)}, url=second)

    await buyer.call(
        "send_message",
        {"conversationId": str(conversation_id), "body": "online", "clientMessageId": "m-1"},
    )
    await seller.inbox.wait_for("new_message")
    await seller.client.disconnect()
    await asyncio.sleep(0.5)
    await buyer.call(
        "send_message",
        {"conversationId": str(conversation_id), "body": "offline", "clientMessageId": "m-2"},
    )

    assert await _push_bodies(seller_user, expected=1) == ["offline"]


# The room that the listener of `batch_listener` delivers to.
LISTENER_ROOM = "listener-test-room"


@dataclass
class BatchListener:
    """A Redis manager listening on a channel of its own, with one socket in LISTENER_ROOM."""

    channel: str
    publisher: aioredis.Redis
    socket: TestSocket
    # The client name of the manager's Redis connections.
    client_name: str
    manager: InlineEmitRedisManager

    async def publish(self, message: Any) -> None:
        raw = message if isinstance(message, bytes) else orjson.dumps(message)
        assert await self.publisher.publish(self.channel, raw) == 1


async def _subscribers(publisher: aioredis.Redis, channel: str) -> int:
    ((_, count),) = await publisher.pubsub_numsub(channel)
    return int(count)


@pytest.fixture
async def batch_listener(
    connect_socket: ConnectSocket, token_for: Any, make_live_user: MakeUser
) -> AsyncIterator[BatchListener]:
    """Run the Redis manager's listener loop against the in-process server's socket.

    The channel is the test's own, so servers of other tests or benchmarks on this Redis
    never get its messages.
    """
    reason = _redis_reachable()
    if reason is not None:
        pytest.skip(reason)

    user = await make_live_user()
    socket_ = await connect_socket(auth={"token": token_for(user)})
    sid = socket_.client.get_sid("/")
    channel = f"taskgo.socketio.test.{uuid.uuid4().hex}"
    client_name = f"taskgo-test-{uuid.uuid4().hex[:12]}"
    manager = InlineEmitRedisManager(
        REDIS_URL, channel=channel, json=OrjsonCodec, redis_options={"client_name": client_name}
    )
    manager.set_server(sio)
    manager.basic_enter_room(
        sid, "/", LISTENER_ROOM, eio_sid=sio.manager.eio_sid_from_sid(sid, "/")
    )
    # python-socketio's own listener loop, as a server process runs it.
    listener = asyncio.ensure_future(manager._thread())
    publisher = aioredis.Redis.from_url(REDIS_URL)
    try:
        async with asyncio.timeout(5):
            while await _subscribers(publisher, channel) == 0:  # noqa: ASYNC110 - Redis has no event
                await asyncio.sleep(0.02)
        yield BatchListener(
            channel=channel,
            publisher=publisher,
            socket=socket_,
            client_name=client_name,
            manager=manager,
        )
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        if manager.redis is not None:
            await manager.redis.aclose()
        await publisher.aclose()


def _batch(*emits: Any) -> dict[str, Any]:
    return {"method": EMIT_BATCH_METHOD, "host_id": "another-process", "emits": list(emits)}


def _errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "junk",
    [
        # orjson rejects more than 1,024 levels, and the standard library's parser then
        # raises RecursionError.
        b"[" * 100_000,
        # Valid JSON that is not an object: python-socketio's loop looked for "method" in it.
        b"5",
        # A JSON string that python-socketio's loop decoded a second time, into a number.
        b'"5"',
        b'["emit"]',
    ],
    ids=["deep", "number", "string", "list"],
)
async def test_junk_message_keeps_listener(
    batch_listener: BatchListener, caplog: pytest.LogCaptureFixture, junk: bytes
) -> None:
    caplog.set_level(logging.WARNING)

    await batch_listener.publish(junk)
    await batch_listener.publish(_batch(["hello", {"n": 1}, LISTENER_ROOM, None]))

    received = await batch_listener.socket.inbox.wait_for("hello")
    assert received == [{"n": 1}]
    assert not _errors(caplog)
    # One subscriber means the listener kept its subscription instead of reconnecting.
    assert await _subscribers(batch_listener.publisher, batch_listener.channel) == 1


async def test_invalid_batch_entries_skipped(
    batch_listener: BatchListener, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)

    await batch_listener.publish(
        _batch(
            "not an entry",
            ["too", "short"],
            [7, {"n": 0}, LISTENER_ROOM, None],
            # Without a room python-socketio would send the event to every socket.
            ["hello", {"n": 0}, None, None],
            ["hello", {"n": 0}, [], None],
            ["hello", {"n": 0}, [[LISTENER_ROOM]], None],
            ["hello", {"n": 0}, LISTENER_ROOM, 5],
            ["hello", {"n": 1}, LISTENER_ROOM, None],
            ["hello", {"n": 2}, [LISTENER_ROOM], "someone-else"],
        )
    )
    await batch_listener.publish({"method": EMIT_BATCH_METHOD, "emits": {"not": "a list"}})
    await batch_listener.publish({"method": EMIT_BATCH_METHOD})
    await batch_listener.publish(_batch())
    await batch_listener.publish(_batch(["hello", {"n": 3}, LISTENER_ROOM, None]))

    await batch_listener.socket.inbox.wait_for("hello", 3)
    await batch_listener.socket.inbox.settle()
    assert [event["n"] for event in batch_listener.socket.inbox.events["hello"]] == [1, 2, 3]
    invalid = [r for r in caplog.records if "realtime.emit_batch_invalid" in r.getMessage()]
    assert len(invalid) == 3
    assert all(record.levelno == logging.WARNING for record in invalid)
    assert not _errors(caplog)


async def test_lost_subscription_resets_sockets(
    batch_listener: BatchListener,
    connect_socket: ConnectSocket,
    token_for: Any,
    make_live_user: MakeUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    user = await make_live_user()
    roaming = await connect_socket(auth={"token": token_for(user)}, reconnection=True)
    first_sid = roaming.client.get_sid("/")
    publisher = batch_listener.publisher
    (subscriber,) = [
        client
        for client in await publisher.client_list()
        if client["name"] == batch_listener.client_name and client["sub"] == "1"
    ]

    # As if the connection to Redis dropped: events published meanwhile never reach here.
    started = time.monotonic()
    assert await publisher.client_kill_filter(_id=subscriber["id"]) == 1
    reasons = await batch_listener.socket.inbox.wait_for("__disconnect__")
    await until(lambda: roaming.client.connected and roaming.client.get_sid("/") != first_sid, 10)

    # A dropped transport, not a server disconnect, after which clients would stay away.
    assert reasons in (["transport close"], ["transport error"])
    assert time.monotonic() - started < 5
    assert await _subscribers(publisher, batch_listener.channel) == 1
    assert any("realtime.pubsub_resubscribed" in r.getMessage() for r in caplog.records)


async def test_resubscribe_reuses_connection(batch_listener: BatchListener) -> None:
    publisher = batch_listener.publisher

    async def own_connections() -> list[dict[str, Any]]:
        return [c for c in await publisher.client_list() if c["name"] == batch_listener.client_name]

    for _ in range(4):
        # A publish opens the manager's second connection, besides its subscription.
        await batch_listener.manager.emit_batch([Emit("hello", {"n": 0}, LISTENER_ROOM)])
        (subscriber,) = [c for c in await own_connections() if c["sub"] == "1"]
        assert await publisher.client_kill_filter(_id=subscriber["id"]) == 1
        async with asyncio.timeout(5):
            while await _subscribers(publisher, batch_listener.channel) == 0:  # noqa: ASYNC110 - Redis has no event
                await asyncio.sleep(0.02)

    # Each attempt used to build a new Redis client and leave the old one's publishing
    # connection open.
    assert len(await own_connections()) == 2

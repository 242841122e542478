"""Two `taskgo serve` processes sharing one Redis and one PostgreSQL database."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select

from taskgo.chat import service
from taskgo.db.session import session_scope
from taskgo.users.models import User
from tests.conftest import MakeUser
from tests.realtime.fixtures import ConnectSocket, TestSocket

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

"""Fixtures for tests that talk to the Socket.IO server through real sockets.

The app runs under uvicorn on a loopback port in the test's event loop, so tests can also
inspect the server's state (rooms, presence, timers) directly. Requests really commit,
like `live_client`; conversations are truncated afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import pytest
import socketio
import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from taskgo.users.models import User


class Inbox:
    """Events received by one client, by name, in arrival order."""

    def __init__(self) -> None:
        self.events: dict[str, list[Any]] = defaultdict(list)
        self._changed = asyncio.Event()

    def add(self, event: str, data: Any) -> None:
        self.events[event].append(data)
        self._changed.set()

    async def wait_for(self, event: str, count: int = 1, *, wait_seconds: float = 5.0) -> list[Any]:
        """Wait until ``count`` events named ``event`` arrived; return all of them."""
        async with asyncio.timeout(wait_seconds):
            while len(self.events[event]) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.events[event]

    async def settle(self, seconds: float = 0.3) -> None:
        """Give in-flight events time to arrive, for checks that nothing more came."""
        await asyncio.sleep(seconds)


class TestSocket:
    __test__ = False

    def __init__(self, client: socketio.AsyncClient, inbox: Inbox) -> None:
        self.client = client
        self.inbox = inbox
        self.connect_error: Any = None

    async def call(self, event: str, data: Any, *, wait_seconds: float = 5.0) -> Any:
        return await self.client.call(event, data, timeout=wait_seconds)


ConnectSocket = Callable[..., Awaitable[TestSocket]]


async def until(condition: Callable[[], bool], seconds: float) -> None:
    """Wait until ``condition()`` is true, for state that engineio exposes only as flags."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - nothing to wait on but the flags
            await asyncio.sleep(0.02)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp session for raw WebSocket and long-polling requests."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="session")
async def socket_server(asgi_app: Any) -> AsyncIterator[str]:
    """Serve the app (already started by `asgi_app`) on 127.0.0.1; yield its base URL."""
    config = uvicorn.Config(
        asgi_app,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        ws="websockets-sansio",
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
            await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def live_chat(engine: AsyncEngine, live_client: httpx.AsyncClient) -> AsyncIterator[None]:
    """Commit for real during the test; remove the chats afterwards."""
    yield
    async with engine.begin() as connection:
        await connection.execute(text("TRUNCATE conversations CASCADE"))


@pytest.fixture
def token_for(asgi_app: Any) -> Callable[..., str]:
    from taskgo.auth.service import dev_issuer

    def issue(user: User, *, ttl_seconds: int = 3600) -> str:
        issuer = dev_issuer()
        assert issuer is not None
        return issuer.issue(
            uid=user.firebase_uid, role=user.role, name=user.name, ttl_seconds=ttl_seconds
        )

    return issue


@pytest.fixture
async def connect_socket(socket_server: str) -> AsyncIterator[ConnectSocket]:
    """Connect python-socketio clients: `await connect_socket(auth={...}, headers={...})`.

    `url` selects another server than the in-process one, and `reconnection` lets the client
    reconnect after a dropped connection. With `upgrade_to_websocket`, a
    client that starts on long-polling moves to a WebSocket, as browsers do.
    Raises socketio.exceptions.ConnectionError when the server rejects the connection; the
    rejection data is then in the returned error's `args`. Clients are disconnected after
    the test.
    """
    clients: list[socketio.AsyncClient] = []

    async def connect(
        *,
        auth: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        transport: str = "websocket",
        upgrade_to_websocket: bool = False,
        rejected: list[Any] | None = None,
        url: str | None = None,
        reconnection: bool = False,
    ) -> TestSocket:
        client = socketio.AsyncClient(reconnection=reconnection)
        inbox = Inbox()
        socket = TestSocket(client, inbox)

        @client.on("*")
        async def any_event(event: str, data: Any = None) -> None:
            inbox.add(event, data)

        @client.event
        async def connect_error(data: Any) -> None:
            socket.connect_error = data
            if rejected is not None:
                rejected.append(data)

        @client.event
        async def disconnect(reason: Any = None) -> None:
            inbox.add("__disconnect__", reason)

        clients.append(client)
        await client.connect(
            url or socket_server,
            auth=auth,
            headers=headers or {},
            transports=[transport, "websocket"] if upgrade_to_websocket else [transport],
            wait_timeout=5,
        )
        return socket

    yield connect
    for client in clients:
        if client.connected:
            await client.disconnect()

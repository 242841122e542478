"""A uvicorn server on loopback for Socket.IO tests, and clients that record events."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import socketio
import uvicorn

from taskgo.realtime.server import sio
from taskgo.support.socket import register_socket_handlers


class RecordingClient:
    """A python-socketio client that keeps every event it receives, by name."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: dict[str, list[Any]] = defaultdict(list)
        self._changed = asyncio.Event()

        @self.client.on("*")
        async def record(event: str, data: Any = None) -> None:
            self.events[event].append(data)
            self._changed.set()

    async def wait_for(self, event: str, count: int = 1, *, seconds: float = 10.0) -> list[Any]:
        async with asyncio.timeout(seconds):
            while len(self.events[event]) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.events[event]


ConnectClient = Callable[..., Awaitable[RecordingClient]]


@pytest.fixture(scope="session")
async def support_socket_server(asgi_app: Any) -> AsyncIterator[str]:
    """Serve the started app on 127.0.0.1 with the support handlers; yield its URL."""
    register_socket_handlers(sio)
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
        while not server.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
            await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def connect_client(support_socket_server: str) -> AsyncIterator[ConnectClient]:
    clients: list[RecordingClient] = []

    async def connect(*, token: str, locale: str | None = None) -> RecordingClient:
        recording = RecordingClient()
        auth: dict[str, str] = {"token": token}
        if locale is not None:
            auth["locale"] = locale
        clients.append(recording)
        await recording.client.connect(
            support_socket_server, auth=auth, transports=["websocket"], wait_timeout=5
        )
        return recording

    yield connect
    for recording in clients:
        if recording.client.connected:
            await recording.client.disconnect()

"""Minimal Socket.IO v5 client (Engine.IO v4, WebSocket transport only) for the chat bench.

A stock python-socketio client per connection costs too much CPU to drive 1,000 sockets
from one core, which would make the harness the bottleneck. This client speaks only what
the bench needs: the namespace connect with an auth payload, events, acks, and pings. It
never offers permessage-deflate, so neither server compresses frames.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

EventHandler = Callable[[str, Any], None]


class SocketIOError(Exception):
    pass


class BenchSocket:
    """One Socket.IO connection on the default namespace."""

    def __init__(
        self, http: aiohttp.ClientSession, base_url: str, *, on_event: EventHandler
    ) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + "/socket.io/?EIO=4&transport=websocket"
        self._on_event = on_event
        self._ack_ids = itertools.count()
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self.connect_error: Any = None

    async def connect(self, auth: dict[str, Any], *, wait_seconds: float = 10.0) -> None:
        self._ws = await self._http.ws_connect(
            self._url,
            compress=0,
            autoping=True,
            max_msg_size=1 << 20,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=wait_seconds),
        )
        opened = await self._ws.receive_str(timeout=wait_seconds)
        if not opened.startswith("0"):
            raise SocketIOError(f"expected an Engine.IO open packet, got {opened[:40]!r}")

        await self._ws.send_str("40" + orjson.dumps(auth).decode())
        while True:
            reply = await self._ws.receive_str(timeout=wait_seconds)
            if reply == "2":
                await self._ws.send_str("3")
                continue
            break
        if reply.startswith("44"):
            self.connect_error = orjson.loads(reply[2:])
            await self._ws.close()
            raise SocketIOError(f"connection rejected: {self.connect_error}")
        if not reply.startswith("40"):
            raise SocketIOError(f"expected a namespace connect packet, got {reply[:40]!r}")
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def emit(self, event: str, data: Any) -> asyncio.Future[Any]:
        """Send an event with an ack id; return a future resolved with the ack data."""
        assert self._ws is not None
        ack_id = next(self._ack_ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[ack_id] = future
        await self._ws.send_str(f"42{ack_id}" + orjson.dumps([event, data]).decode())
        return future

    async def call(self, event: str, data: Any, *, wait_seconds: float = 10.0) -> Any:
        future = await self.emit(event, data)
        return await asyncio.wait_for(future, wait_seconds)

    async def close(self) -> None:
        if self._ws is not None and not self._ws.closed:
            try:
                await self._ws.send_str("41")
            except ConnectionError:
                pass
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
        for future in self._pending.values():
            if not future.done():
                future.cancel()

    async def _read(self) -> None:
        assert self._ws is not None
        async for frame in self._ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            packet: str = frame.data
            if packet == "2":
                await self._ws.send_str("3")
            elif packet.startswith("42"):
                event, *args = orjson.loads(packet[2:])
                self._on_event(event, args[0] if args else None)
            elif packet.startswith("43"):
                self._resolve_ack(packet[2:])
            elif packet.startswith("41") or packet == "1":
                break
        for future in self._pending.values():
            if not future.done():
                future.set_exception(SocketIOError("connection closed"))

    def _resolve_ack(self, body: str) -> None:
        split = body.index("[")
        future = self._pending.pop(int(body[:split]), None)
        if future is not None and not future.done():
            args = orjson.loads(body[split:])
            future.set_result(args[0] if args else None)

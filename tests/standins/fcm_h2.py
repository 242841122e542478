"""A lean asyncio server for the FCM stand-in: HTTP/2 with `h2`, HTTP/1.1 with `h11`.

In a profile of the dispatch benchmark, hypercorn's own code took about two thirds of the
stand-in's CPU time, so a benchmark of the push fan-out measured mostly hypercorn. This
server drives the protocol libraries from an asyncio protocol and passes every complete
request to the handler that hypercorn calls through ASGI (`FcmStandin.answer`), so both
servers check tokens and bodies with the same code.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import h11
import orjson

Answer = tuple[int, dict[str, object], tuple[tuple[str, str], ...]]
MAX_CONCURRENT_STREAMS = 1000
_RECEIVE_WINDOW = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StandinRequest:
    """A complete request as the stand-in's handler receives it from either server."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    http_version: str
    # The client's TCP port, which identifies the connection.
    client_port: int = 0

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


Handler = Callable[[StandinRequest, bytes], Awaitable[Answer]]


def _peer_port(transport: asyncio.BaseTransport) -> int:
    peer = transport.get_extra_info("peername")
    return int(peer[1]) if peer else 0


def encode_answer(answer: Answer) -> tuple[int, list[tuple[str, str]], bytes]:
    status, payload, extra = answer
    content = orjson.dumps(payload)
    headers = [
        ("content-type", "application/json; charset=UTF-8"),
        ("content-length", str(len(content))),
        *extra,
    ]
    return status, headers, content


class _Http2(asyncio.Protocol):
    def __init__(self, handler: Handler, max_streams: int) -> None:
        self._handler = handler
        self._max_streams = max_streams
        # Requests are checked as received. The response headers are built here, so
        # checking them again would only cost time.
        self._h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(
                client_side=False,
                header_encoding="utf-8",
                validate_outbound_headers=False,
                normalize_outbound_headers=False,
            )
        )
        self._transport: asyncio.Transport | None = None
        self._flush_scheduled = False
        self._requests: dict[int, tuple[dict[str, str], list[bytes]]] = {}
        self._window_waiters: list[asyncio.Future[None]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._client_port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, so this is a cast, not a check.
        self._transport = cast(asyncio.Transport, transport)
        self._client_port = _peer_port(transport)
        # Settings.update() only stages values until the peer acknowledges them, and
        # initiate_connection() sends the current ones, so the initial values are set here.
        self._h2.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self._max_streams,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _RECEIVE_WINDOW,
            },
        )
        self._h2.initiate_connection()
        self._h2.increment_flow_control_window(_RECEIVE_WINDOW - 65_535)
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self._flush()
            if self._transport is not None:
                self._transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                headers = {str(name): str(value) for name, value in event.headers or ()}
                self._requests[event.stream_id] = (headers, [])
            elif isinstance(event, h2.events.DataReceived):
                if event.flow_controlled_length:
                    self._h2.acknowledge_received_data(
                        event.flow_controlled_length, event.stream_id
                    )
                if event.stream_id in self._requests and event.data:
                    self._requests[event.stream_id][1].append(event.data)
            elif isinstance(event, h2.events.StreamEnded):
                pending = self._requests.pop(event.stream_id, None)
                if pending is not None:
                    task = asyncio.ensure_future(self._answer(event.stream_id, *pending))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            elif isinstance(event, h2.events.StreamReset):
                self._requests.pop(event.stream_id, None)
            elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
                self._wake()
            elif isinstance(event, h2.events.ConnectionTerminated):
                if self._transport is not None:
                    self._transport.close()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._wake()

    async def _answer(self, stream_id: int, headers: dict[str, str], chunks: list[bytes]) -> None:
        target = urlsplit(headers.get(":path", "/"))
        request = StandinRequest(
            method=headers.get(":method", ""),
            path=target.path,
            query=target.query,
            headers={name: value for name, value in headers.items() if name[0] != ":"},
            http_version="2",
            client_port=self._client_port,
        )
        status, response_headers, content = encode_answer(
            await self._handler(request, b"".join(chunks))
        )
        try:
            self._h2.send_headers(stream_id, [(":status", str(status)), *response_headers])
            view = memoryview(content)
            while view and self._transport is not None:
                allowed = min(
                    self._h2.local_flow_control_window(stream_id), self._h2.max_outbound_frame_size
                )
                if allowed <= 0:
                    self._flush()
                    waiter = asyncio.get_running_loop().create_future()
                    self._window_waiters.append(waiter)
                    await waiter
                    continue
                chunk, view = view[:allowed], view[allowed:]
                self._h2.send_data(stream_id, bytes(chunk))
            self._h2.end_stream(stream_id)
        except h2.exceptions.H2Error:
            # The client reset the stream or the connection closed meanwhile.
            return
        if not self._flush_scheduled:
            # One write per loop iteration for all the responses finished in it.
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def goaway(self) -> None:
        try:
            self._h2.close_connection()
        except h2.exceptions.H2Error:
            return
        self._flush()

    def _wake(self) -> None:
        waiters, self._window_waiters = self._window_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self._h2.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)


class _Http11(asyncio.Protocol):
    """HTTP/1.1, one request at a time per connection: enough for stats polls and tests."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._h11 = h11.Connection(h11.SERVER)
        self._transport: asyncio.Transport | None = None
        self._request: h11.Request | None = None
        self._body: list[bytes] = []
        self._busy = False
        self._task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, so this is a cast, not a check.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._h11.receive_data(data)
        self._process()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def _process(self) -> None:
        while not self._busy and self._transport is not None:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError:
                self._transport.close()
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._request, self._body = event, []
            elif isinstance(event, h11.Data):
                self._body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage) and self._request is not None:
                self._busy = True
                self._task = asyncio.ensure_future(
                    self._answer(self._request, b"".join(self._body))
                )
            elif isinstance(event, h11.ConnectionClosed):
                self._transport.close()
                return

    async def _answer(self, request: h11.Request, body: bytes) -> None:
        target = urlsplit(bytes(request.target).decode("latin-1"))
        answer = await self._handler(
            StandinRequest(
                method=bytes(request.method).decode(),
                path=target.path,
                query=target.query,
                headers={
                    bytes(name).decode("latin-1").lower(): bytes(value).decode("latin-1")
                    for name, value in request.headers
                },
                http_version=bytes(request.http_version).decode(),
                client_port=_peer_port(self._transport) if self._transport else 0,
            ),
            body,
        )
        status, headers, content = encode_answer(answer)
        if self._transport is None:
            return
        output = self._h11.send(h11.Response(status_code=status, headers=headers)) or b""
        output += self._h11.send(h11.Data(data=content)) or b""
        output += self._h11.send(h11.EndOfMessage()) or b""
        self._transport.write(output)
        if self._h11.our_state is h11.MUST_CLOSE:
            self._transport.close()
            return
        self._h11.start_next_cycle()
        self._busy = False
        self._process()


class _Negotiated(asyncio.Protocol):
    """Protocol that passes the connection to HTTP/2 or HTTP/1.1, as ALPN selected."""

    def __init__(self, handler: Handler, registry: set[_Negotiated], max_streams: int) -> None:
        self._handler = handler
        self._registry = registry
        self._max_streams = max_streams
        self._inner: _Http2 | _Http11 | None = None
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._registry.add(self)
        ssl_object = transport.get_extra_info("ssl_object")
        chosen = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        self._inner = (
            _Http2(self._handler, self._max_streams) if chosen == "h2" else _Http11(self._handler)
        )
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._registry.discard(self)
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def drop(self, *, goaway: bool) -> None:
        if goaway and isinstance(self._inner, _Http2):
            self._inner.goaway()
        if self._transport is not None:
            self._transport.close()


class LeanServer:
    """The listening server and its open connections."""

    def __init__(self, handler: Handler, *, max_streams: int = MAX_CONCURRENT_STREAMS) -> None:
        self._handler = handler
        self._max_streams = max_streams
        self._connections: set[_Negotiated] = set()
        self._server: asyncio.Server | None = None

    async def start(self, *, listener: socket.socket, cert: Path, key: Path) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))
        context.set_alpn_protocols(["h2", "http/1.1"])
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Negotiated(self._handler, self._connections, self._max_streams),
            sock=listener,
            ssl=context,
            backlog=512,
        )

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def drop_connections(self, *, goaway: bool = False) -> None:
        """Close every open connection, after a GOAWAY frame when `goaway` is set."""
        for connection in list(self._connections):
            connection.drop(goaway=goaway)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self.drop_connections(goaway=True)

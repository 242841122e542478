"""A small HTTP/2 client for the FCM sender: POSTs multiplexed over a few TLS connections.

FCM takes one request per message, so a fan-out to thousands of devices is thousands of
small requests. httpx used about 1.2 ms of CPU on each in the dispatch benchmark. This
client drives the `h2` state machine from an asyncio protocol. It keeps only what the
sender needs: POST with a body, the response's status, headers and body, a timeout per
request, the server's stream limit and flow control. It opens a new connection after one
fails or the server sends GOAWAY.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

# Receive window per stream and for the connection. FCM responses are a few hundred bytes,
# but every stream in flight shares the connection window.
_RECEIVE_WINDOW = 16 * 1024 * 1024


class H2TransportError(Exception):
    """The request failed below HTTP: connect, TLS, a reset stream or a lost connection.

    The server may or may not have processed it.
    """


class H2Timeout(H2TransportError):
    """No complete response within the request's time limit."""


@dataclass(frozen=True, slots=True)
class H2Response:
    status: int
    headers: dict[str, str]
    content: bytes


class _Stream:
    __slots__ = ("chunks", "done", "headers", "status")

    def __init__(self, done: asyncio.Future[H2Response]) -> None:
        self.done = done
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []


class _Connection(asyncio.Protocol):
    """One HTTP/2 connection: an asyncio protocol feeding the `h2` state machine."""

    def __init__(self, authority: str, stream_limit: int) -> None:
        self._authority = authority
        self._stream_limit = stream_limit
        # Header checks are off: the sender builds a fixed set of lowercase headers, and
        # they cost about a fifth of the client's CPU per request.
        self._h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(
                client_side=True,
                header_encoding="ascii",
                validate_outbound_headers=False,
                normalize_outbound_headers=False,
                validate_inbound_headers=False,
            )
        )
        self._transport: asyncio.Transport | None = None
        self._flush_scheduled = False
        self._streams: dict[int, _Stream] = {}
        self._waiting_for_window: list[asyncio.Future[None]] = []
        self._waiting_for_stream: list[asyncio.Future[None]] = []
        self._error: H2TransportError | None = None
        self.opened = 0
        # Resolved by the server's first SETTINGS frame, which carries its stream limit.
        self.settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # Protocol callbacks ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, so this is a cast, not a check.
        self._transport = cast(asyncio.Transport, transport)
        # Settings.update() only stages values until the peer acknowledges them, and
        # initiate_connection() sends the current ones, so the initial values are set here.
        self._h2.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _RECEIVE_WINDOW,
            },
        )
        self._h2.initiate_connection()
        self._h2.increment_flow_control_window(_RECEIVE_WINDOW - 65_535)
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as error:
            self._fail(H2TransportError(f"HTTP/2 protocol error: {error}"))
            self._flush()
            self.close()
            return
        for event in events:
            self._on_event(event)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(H2TransportError(f"connection lost: {exc or 'closed by the server'}"))

    def _on_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ResponseReceived):
            stream = self._streams.get(event.stream_id)
            if stream is not None:
                headers = {str(name): str(value) for name, value in (event.headers or ())}
                stream.status = int(headers.pop(":status", "0"))
                stream.headers = headers
        elif isinstance(event, h2.events.DataReceived):
            if event.flow_controlled_length:
                self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            stream = self._streams.get(event.stream_id)
            if stream is not None and event.data:
                stream.chunks.append(event.data)
        elif isinstance(event, h2.events.StreamEnded):
            self._finish(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            self._end_stream(
                event.stream_id, H2TransportError(f"stream reset by the server: {event.error_code}")
            )
        elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            if isinstance(event, h2.events.RemoteSettingsChanged) and not self.settled.done():
                self.settled.set_result(None)
            self._wake(self._waiting_for_window)
            self._wake(self._waiting_for_stream)
        elif isinstance(event, h2.events.ConnectionTerminated):
            # GOAWAY: no new streams here; streams the server did not take fail now, the
            # others may still complete.
            self._error = H2TransportError(f"server sent GOAWAY: {event.error_code}")
            last = event.last_stream_id if event.last_stream_id is not None else 0
            for stream_id in [sid for sid in self._streams if sid > last]:
                self._end_stream(stream_id, self._error)
            self._wake(self._waiting_for_stream)

    # Requests ----------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        return (
            self._error is None and self._transport is not None and not self._transport.is_closing()
        )

    @property
    def in_flight(self) -> int:
        return len(self._streams)

    def _capacity(self) -> int:
        return min(self._stream_limit, self._h2.remote_settings.max_concurrent_streams)

    async def request(
        self, method: str, path: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> H2Response:
        while self.in_flight >= self._capacity():
            await self._wait(self._waiting_for_stream)
        self._check()
        stream_id = self._h2.get_next_available_stream_id()
        loop = asyncio.get_running_loop()
        stream = _Stream(loop.create_future())
        self._streams[stream_id] = stream
        self.opened += 1
        try:
            self._h2.send_headers(
                stream_id,
                [
                    (":method", method),
                    (":scheme", "https"),
                    (":authority", self._authority),
                    (":path", path),
                    *headers,
                    ("content-length", str(len(body))),
                ],
                end_stream=not body,
            )
            await self._send_body(stream_id, body)
            self._flush_soon()
            return await stream.done
        except h2.exceptions.H2Error as error:
            raise H2TransportError(f"HTTP/2 error: {error!r}") from error
        except asyncio.CancelledError:
            self._cancel(stream_id)
            raise
        finally:
            if self._streams.pop(stream_id, None) is not None:
                self._wake(self._waiting_for_stream)

    async def _send_body(self, stream_id: int, body: bytes) -> None:
        view = memoryview(body)
        while view:
            self._check()
            allowed = min(
                self._h2.local_flow_control_window(stream_id), self._h2.max_outbound_frame_size
            )
            if allowed <= 0:
                self._flush()
                await self._wait(self._waiting_for_window)
                continue
            chunk, view = view[:allowed], view[allowed:]
            self._h2.send_data(stream_id, bytes(chunk), end_stream=not view)

    def _cancel(self, stream_id: int) -> None:
        if self._error is None and stream_id in self._streams:
            try:
                self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
                self._flush()
            except h2.exceptions.H2Error:
                pass

    # Plumbing ------------------------------------------------------------------------

    def _check(self) -> None:
        if self._error is not None:
            raise self._error
        if self._transport is None:
            raise H2TransportError("not connected")

    async def _wait(self, waiters: list[asyncio.Future[None]]) -> None:
        self._check()
        waiter = asyncio.get_running_loop().create_future()
        waiters.append(waiter)
        await waiter
        self._check()

    @staticmethod
    def _wake(waiters: list[asyncio.Future[None]]) -> None:
        pending = waiters[:]
        waiters.clear()
        for waiter in pending:
            if not waiter.done():
                waiter.set_result(None)

    def _finish(self, stream_id: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is not None and not stream.done.done():
            content = b"".join(stream.chunks)
            stream.done.set_result(H2Response(stream.status, stream.headers, content))

    def _end_stream(self, stream_id: int, error: H2TransportError) -> None:
        stream = self._streams.get(stream_id)
        if stream is not None and not stream.done.done():
            stream.done.set_exception(error)

    def _fail(self, error: H2TransportError) -> None:
        if self._error is None:
            self._error = error
        if not self.settled.done():
            self.settled.set_exception(error)
        for stream_id in list(self._streams):
            self._end_stream(stream_id, error)
        self._wake(self._waiting_for_window)
        self._wake(self._waiting_for_stream)

    def _flush_soon(self) -> None:
        """Write once per loop iteration, so requests started together share TLS records."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self._h2.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            try:
                self._h2.close_connection()
                self._flush()
            except h2.exceptions.H2Error:
                pass
            self._transport.close()


class H2Client:
    """POSTs to one origin over `connections` HTTP/2 connections, opened on first use.

    At most `max_streams` requests are in flight at once, spread evenly over the
    connections and never above the stream limit a server announces. A connection that
    fails or gets GOAWAY is replaced by a new one for later requests.
    """

    def __init__(
        self,
        base_url: str,
        *,
        ssl_context: ssl.SSLContext,
        connections: int = 2,
        max_streams: int = 100,
        connect_timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"an HTTP/2 base URL must be https://host[:port], not {base_url!r}")
        self._host = parts.hostname
        self._port = parts.port or 443
        self._authority = parts.netloc
        self._context = ssl_context
        self._context.set_alpn_protocols(["h2"])
        self._connect_timeout = connect_timeout
        count = max(1, connections)
        self._stream_limit = max(1, -(-max_streams // count))
        self._slots = asyncio.Semaphore(max(1, max_streams))
        self._connections: list[_Connection | None] = [None] * count
        self._connecting: list[asyncio.Lock] = [asyncio.Lock() for _ in range(count)]
        self._next = 0
        self.connects = 0

    @property
    def open_connections(self) -> int:
        return sum(1 for connection in self._connections if connection and connection.usable)

    async def post(
        self, path: str, *, headers: Sequence[tuple[str, str]], body: bytes, time_limit: float
    ) -> H2Response:
        """Send one POST and return the response.

        Raises H2Timeout when no response arrives within `time_limit` seconds, and
        H2TransportError when the connection fails."""
        async with self._slots:
            # The timeout starts once a slot is free, so a long queue is not a timeout.
            try:
                async with asyncio.timeout(time_limit):
                    connection = await self._connection()
                    return await connection.request("POST", path, headers, body)
            except TimeoutError as error:
                raise H2Timeout(f"no response within {time_limit:g} s") from error

    async def _connection(self) -> _Connection:
        # Round robin, skipping full connections when another has room.
        count = len(self._connections)
        index = self._next
        for offset in range(count):
            candidate = self._connections[(self._next + offset) % count]
            if candidate is None or candidate.in_flight < self._stream_limit:
                index = (self._next + offset) % count
                break
        self._next = (index + 1) % count
        connection = self._connections[index]
        if connection is not None and connection.usable:
            return connection
        async with self._connecting[index]:
            connection = self._connections[index]
            if connection is None or not connection.usable:
                if connection is not None:
                    connection.close()
                connection = await self._open()
                self._connections[index] = connection
        return connection

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                transport, protocol = await loop.create_connection(
                    lambda: _Connection(self._authority, self._stream_limit),
                    self._host,
                    self._port,
                    ssl=self._context,
                    server_hostname=self._host,
                )
                ssl_object = transport.get_extra_info("ssl_object")
                if ssl_object is None or ssl_object.selected_alpn_protocol() != "h2":
                    transport.close()
                    raise H2TransportError(f"{self._authority} did not select HTTP/2 in ALPN")
                # Requests wait for the server's settings, so the first ones already
                # respect its stream limit instead of being refused.
                await protocol.settled
        except TimeoutError as error:
            raise H2Timeout(f"connect to {self._authority} timed out") from error
        except (OSError, ssl.SSLError) as error:
            raise H2TransportError(f"connect to {self._authority} failed: {error}") from error
        self.connects += 1
        return protocol

    async def aclose(self) -> None:
        for index, connection in enumerate(self._connections):
            if connection is not None:
                connection.close()
            self._connections[index] = None
        await asyncio.sleep(0)

"""HTTP and Socket.IO clients of one demo actor, with a time limit on every call and wait."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import httpx
import socketio

HTTP_TIMEOUT_SECONDS = 20.0
SOCKET_CONNECT_SECONDS = 10.0
EVENT_WAIT_SECONDS = 20.0


class DemoError(Exception):
    """A step got a response other than the one the apps expect, so the walk-through stops."""


class ApiError(DemoError):
    def __init__(self, *, method: str, path: str, status: int, body: Any) -> None:
        error = body.get("error") if isinstance(body, dict) else None
        self.status = status
        self.code: str | None = error.get("code") if isinstance(error, dict) else None
        self.message: str | None = error.get("message") if isinstance(error, dict) else None
        self.body = body
        detail = f"{self.code}: {self.message}" if self.code else str(body)[:300]
        super().__init__(f"{method} {path} returned HTTP {status} ({detail})")


def _body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    return response.text


class Api:
    """Client of the API as one signed-in user. `expect` lists the statuses that count as
    success."""

    def __init__(self, http: httpx.AsyncClient, *, token: str | None = None) -> None:
        self._http = http
        self._token = token

    def as_user(self, token: str) -> Api:
        return Api(self._http, token=token)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        data: dict[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
        idempotency_key: str | None = None,
    ) -> Any:
        headers = {"Accept-Language": "pt-BR"}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        response = await self._http.request(
            method, path, json=json, params=params, files=files, data=data, headers=headers
        )
        body = _body(response)
        if response.status_code not in expect:
            raise ApiError(method=method, path=path, status=response.status_code, body=body)
        return body

    async def get(self, path: str, **options: Any) -> Any:
        return await self.request("GET", path, **options)

    async def post(self, path: str, **options: Any) -> Any:
        return await self.request("POST", path, **options)

    async def put(self, path: str, **options: Any) -> Any:
        return await self.request("PUT", path, **options)


def new_key() -> str:
    """Return a fresh Idempotency-Key, as an app makes one per user action."""
    return str(uuid.uuid4())


class EventInbox:
    """A Socket.IO connection that keeps every event it receives, for waits with a deadline."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: defaultdict[str, list[Any]] = defaultdict(list)
        self._changed = asyncio.Event()
        self.client.on("*", self._record)

    async def _record(self, event: str, data: Any = None) -> None:
        self.events[event].append(data)
        self._changed.set()

    async def connect(self, base_url: str, *, token: str) -> None:
        try:
            await self.client.connect(
                base_url,
                auth={"token": token},
                transports=["websocket"],
                socketio_path="socket.io",
                wait_timeout=SOCKET_CONNECT_SECONDS,
            )
        except socketio.exceptions.ConnectionError as error:
            raise DemoError(f"{self.label}: Socket.IO connection failed ({error})") from error

    async def call(self, event: str, data: Any, *, wait_seconds: float = 10.0) -> Any:
        try:
            return await self.client.call(event, data, timeout=wait_seconds)
        except socketio.exceptions.TimeoutError as error:
            raise DemoError(
                f"{self.label}: no ack for {event} within {wait_seconds:.0f} s"
            ) from error

    async def wait_for(
        self,
        event: str,
        match: Callable[[Any], bool] = lambda _: True,
        *,
        wait_seconds: float = EVENT_WAIT_SECONDS,
    ) -> Any:
        """Return the first `event` whose payload satisfies `match`, waiting up to
        `wait_seconds`."""
        _, payload = await self.wait_for_any({event: match}, wait_seconds=wait_seconds)
        return payload

    async def wait_for_any(
        self,
        matches: dict[str, Callable[[Any], bool]],
        *,
        wait_seconds: float = EVENT_WAIT_SECONDS,
    ) -> tuple[str, Any]:
        """Return (event, payload) of the first received event that satisfies its `match`,
        waiting up to `wait_seconds`."""
        try:
            async with asyncio.timeout(wait_seconds):
                while True:
                    for event, match in matches.items():
                        for payload in self.events[event]:
                            if match(payload):
                                return event, payload
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            expected = " or ".join(matches)
            raise DemoError(
                f"{self.label}: the expected {expected} event did not arrive "
                f"within {wait_seconds:.0f} s"
            ) from None

    async def close(self) -> None:
        if self.client.connected:
            await self.client.disconnect()

"""Minimal ASGI plumbing for the FCM stand-in: headers, request body, JSON responses."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


def read_header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        event = await receive()
        if event["type"] != "http.request":
            break
        chunks.append(event.get("body", b""))
        if not event.get("more_body"):
            break
    return b"".join(chunks)


async def respond(
    send: Send, status: int, payload: dict[str, Any], headers: Iterable[tuple[str, str]]
) -> None:
    content = orjson.dumps(payload)
    raw_headers = [
        (b"content-type", b"application/json; charset=UTF-8"),
        (b"content-length", str(len(content)).encode()),
        *((name.encode(), value.encode()) for name, value in headers),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": content})


async def run_lifespan(receive: Receive, send: Send) -> None:
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif event["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return

"""A python-socketio relay with the chat's events and no storage, for comparison only.

It does what `bench/node/relay.js` does: no auth check beyond a non-empty token and no
database. It runs on the TaskGo gateway's stack, which is python-socketio on uvicorn with
uvloop, httptools and the websockets-sansio protocol, with the gateway's orjson codec,
packet class and WebSocket session loop (`taskgo.realtime.transport`). The chat bench runs
it as the target `python-relay`, to tell the cost of that stack apart from the cost of the
gateway's own work (authentication, validation, rate limits, storage).

Usage: python -m bench.python_relay [port] (default 3200, loopback only).
"""

from __future__ import annotations

import logging
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import socketio
import structlog
import uvicorn

from taskgo.realtime import transport
from taskgo.realtime.codec import FastPacket, OrjsonCodec

# Warnings and above only, as the gateway logs in the bench (LOG_LEVEL=WARNING).
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

sio = socketio.AsyncServer(
    async_mode="asgi",
    json=OrjsonCodec,
    serializer=FastPacket,
    async_handlers=False,
    max_http_buffer_size=256 * 1024,
    ping_interval=25,
    ping_timeout=20,
    logger=False,
    engineio_logger=False,
)
transport.install(sio.eio)


@sio.on("connect")
async def connect(sid: str, environ: dict[str, Any], auth: object = None) -> None:
    token = auth.get("token") if isinstance(auth, dict) else None
    if not isinstance(token, str) or not token:
        raise socketio.exceptions.ConnectionRefusedError(
            "missing token", {"code": "auth.missing_token"}
        )
    # The bench passes the user's name as the token, as it does for the Node relay.
    await sio.save_session(sid, {"user_id": token})
    await sio.enter_room(sid, f"user:{token}")


@sio.on("join_conversation")
async def join_conversation(sid: str, data: Any = None) -> dict[str, Any]:
    conversation_id = data.get("conversationId") if isinstance(data, dict) else None
    if not isinstance(conversation_id, str):
        return {"error": {"code": "chat.id_invalid"}}
    await sio.enter_room(sid, f"conversation:{conversation_id}")
    return {"ok": True}


@sio.on("send_message")
async def send_message(sid: str, data: Any = None) -> dict[str, Any]:
    if not isinstance(data, dict):
        return {"error": {"code": "chat.body_invalid"}}
    conversation_id, body = data.get("conversationId"), data.get("body")
    if not isinstance(conversation_id, str) or not isinstance(body, str):
        return {"error": {"code": "chat.body_invalid"}}

    session = await sio.get_session(sid)
    message = {
        "id": uuid.uuid4(),
        "conversationId": conversation_id,
        "senderId": session["user_id"],
        "body": body,
        "clientMessageId": data.get("clientMessageId"),
        "createdAt": datetime.now(UTC),
    }
    await sio.emit("new_message", message, room=f"conversation:{conversation_id}", skip_sid=sid)
    return {
        "id": message["id"],
        "conversationId": conversation_id,
        "clientMessageId": message["clientMessageId"],
        "createdAt": message["createdAt"],
        "duplicate": False,
    }


async def not_found(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Respond 404 to every HTTP request outside ``/socket.io``."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})


app = socketio.ASGIApp(sio, other_asgi_app=not_found, socketio_path="socket.io")


def serve() -> None:
    """Run the relay on 127.0.0.1 at the port of the first argument (3200 by default)."""
    # Not named main: every bench module with a main() counts as a benchmark of its own.
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 3200
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        log_level="warning",
        lifespan="off",
    )


if __name__ == "__main__":
    serve()

"""Socket.IO path of the assistant: `support_message` in, streamed reply out.

The client sends `support_message {conversationId, content, clientMessageId?}`. The ack
comes at once: `{ok: true, conversationId, clientMessageId}`, or `{error: {code, message,
field?}}` for a malformed payload or a conversation that is not the user's. The reply then
streams to that socket as `support_delta {conversationId, clientMessageId, delta, index}`
events and ends with `support_done` (to every socket of the user) carrying the stored
reply, whose `content` is authoritative: after a failure mid-stream it contains the fallback
text, not the deltas. A turn that fails before any reply (rate limit, daily budget, a reply
already in progress) ends with `support_error {conversationId, clientMessageId, error}`.

The turn runs in a task of its own because the server handles one connection's events in
order, and a reply can take many seconds.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Coroutine
from typing import Any

import socketio
import structlog

from taskgo.config import get_settings
from taskgo.db.session import session_scope
from taskgo.errors import AppError
from taskgo.i18n import translate
from taskgo.realtime import user_room
from taskgo.support import service
from taskgo.users.models import User

log = structlog.get_logger(__name__)

_CLIENT_MESSAGE_ID = re.compile(r"^[\x21-\x7e]{1,100}$")


# Servers that have the handler (by id) and the running turns, kept so no task is
# garbage-collected before it ends.
_registered: set[int] = set()
_tasks: set[asyncio.Task[None]] = set()


def _error(code: str, locale: str, *, field: str | None = None, **params: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": translate(code, locale, **params)}
    if field is not None:
        error["field"] = field
    return {"error": error}


def _parse(data: object, locale: str) -> tuple[uuid.UUID, str, str | None] | dict[str, Any]:
    """Return (conversation id, content, client message id), or an error ack."""
    if not isinstance(data, dict):
        return _error("support.invalid_payload", locale, field="payload")
    raw_id = data.get("conversationId", data.get("conversation_id"))
    try:
        conversation_id = uuid.UUID(str(raw_id))
    except ValueError:
        return _error(
            "support.invalid_conversation_id", locale, field="conversationId", value=raw_id
        )
    content = data.get("content")
    if not isinstance(content, str):
        return _error("support.message_empty", locale, field="content")
    client_message_id = data.get("clientMessageId", data.get("client_message_id"))
    if client_message_id is not None and (
        not isinstance(client_message_id, str) or not _CLIENT_MESSAGE_ID.match(client_message_id)
    ):
        return _error("support.invalid_payload", locale, field="clientMessageId")
    return conversation_id, content, client_message_id


def _spawn(coroutine: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(coroutine)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _run_turn(
    sio: socketio.AsyncServer,
    *,
    sid: str,
    user_id: uuid.UUID,
    locale: str,
    conversation_id: uuid.UUID,
    content: str,
    client_message_id: str | None,
) -> None:
    ids = {"conversationId": str(conversation_id), "clientMessageId": client_message_id}
    index = 0

    async def send_delta(text: str) -> None:
        nonlocal index
        await sio.emit("support_delta", {**ids, "delta": text, "index": index}, to=sid)
        index += 1

    try:
        async with session_scope() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise AppError("auth.user_unavailable", status=401)
            result = await service.send_message(
                session,
                user=user,
                conversation_id=conversation_id,
                content=content,
                locale=locale,
                client_message_id=client_message_id,
                on_delta=send_delta,
            )
            reply, user_message = result.reply, result.user_message
            payload = {
                **ids,
                "message": {
                    "id": str(reply.id),
                    "role": reply.role,
                    "content": reply.content,
                    "createdAt": reply.created_at.isoformat(),
                },
                "userMessage": {
                    "id": str(user_message.id),
                    "role": user_message.role,
                    "content": user_message.content,
                    "truncated": user_message.truncated,
                    "createdAt": user_message.created_at.isoformat(),
                },
                "notice": result.notice,
                "needsHuman": result.conversation.needs_human,
                "replayed": result.replayed,
            }
    except AppError as error:
        log.info("support.socket.turn_rejected", code=error.code, **ids)
        body = {"code": error.code, "message": error.message(locale), "details": error.details}
        await sio.emit("support_error", {**ids, "error": body}, to=sid)
        return
    except Exception:
        log.exception("support.socket.turn_failed", **ids)
        body = {"code": "internal.error", "message": translate("internal.error", locale)}
        await sio.emit("support_error", {**ids, "error": body}, to=sid)
        return

    # Sent after the commit, so a client never shows a reply that was not stored.
    await sio.emit("support_done", payload, room=user_room(user_id))


def register_socket_handlers(sio: socketio.AsyncServer) -> None:
    """Register `support_message` on `sio`; calling it again for the same server is a no-op."""
    if id(sio) in _registered:
        return
    _registered.add(id(sio))

    # Arguments after the payload are ignored, so a call with more of them is still acked.
    async def support_message(sid: str, data: object = None, *_extra: object) -> dict[str, Any]:
        session_data = await sio.get_session(sid)
        user_id: uuid.UUID = session_data["user_id"]
        locale: str = session_data.get("locale", "pt_BR")

        parsed = _parse(data, locale)
        if isinstance(parsed, dict):
            return parsed
        conversation_id, content, client_message_id = parsed

        # Ownership and content are checked before the ack so they fail like over HTTP.
        try:
            service.validate_content(content, settings=get_settings())
            async with session_scope() as session:
                await service.get_own_conversation(
                    session, conversation_id=conversation_id, user_id=user_id
                )
        except AppError as error:
            return _error(error.code, locale, field=error.field, **error.params)

        _spawn(
            _run_turn(
                sio,
                sid=sid,
                user_id=user_id,
                locale=locale,
                conversation_id=conversation_id,
                content=content,
                client_message_id=client_message_id,
            )
        )
        return {
            "ok": True,
            "conversationId": str(conversation_id),
            "clientMessageId": client_message_id,
        }

    sio.on("support_message", support_message)

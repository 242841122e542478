"""Socket.IO events of the order chat: join, leave, send and read receipts."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
import structlog

from taskgo.chat import service
from taskgo.chat.ratelimit import check_control_rate, refund_message_token
from taskgo.chat.sending import Outgoing, prepare_draft
from taskgo.chat.writer import get_writer
from taskgo.db.session import session_scope
from taskgo.errors import AppError
from taskgo.realtime import conversation_room
from taskgo.realtime.locale import error_ack

log = structlog.get_logger(__name__)

Ack = dict[str, Any]
Handler = Callable[[str, dict[str, Any], Any], Awaitable[Ack]]


def _uuid_field(data: Any, field: str) -> uuid.UUID:
    value = data.get(field) if isinstance(data, dict) else None
    if not isinstance(value, str):
        raise AppError("chat.id_invalid", field=field)
    try:
        return uuid.UUID(value)
    except ValueError:
        raise AppError("chat.id_invalid", field=field) from None


def _app_error_ack(exc: AppError, locale: str) -> Ack:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message(locale)}
    if exc.field is not None:
        error["field"] = exc.field
    details = {key: value for key, value in exc.details.items() if key != "field"}
    if details:
        error["details"] = details
    return {"error": error}


def _guarded(sio: socketio.AsyncServer, event: str, handler: Handler) -> None:
    """Register ``handler`` so that every outcome, failures included, produces an ack."""

    # Arguments after the payload are ignored. Without `*_extra`, a call with more than one
    # argument would fail inside python-socketio and never get an ack.
    async def run(sid: str, data: Any = None, *_extra: Any) -> Ack:
        session = await sio.get_session(sid)
        locale: str = session.get("locale", "pt_BR")
        try:
            return await handler(sid, session, data)
        except AppError as exc:
            return _app_error_ack(exc, locale)
        except Exception:
            log.exception("chat.event_failed", event_name=event, sid=sid)
            return error_ack("internal.error", locale)

    sio.on(event, run)


def register(sio: socketio.AsyncServer) -> None:
    """Attach the chat's event handlers to ``sio``."""

    async def join_conversation(sid: str, session: dict[str, Any], data: Any) -> Ack:
        conversation_id = _uuid_field(data, "conversationId")
        await check_control_rate(session["user_id"])
        async with session_scope() as db:
            await service.require_participant(
                db, conversation_id=conversation_id, user_id=session["user_id"]
            )
        # Entered only after the membership check, so others never get the room's events.
        await sio.enter_room(sid, conversation_room(conversation_id))
        return {"ok": True}

    async def leave_conversation(sid: str, session: dict[str, Any], data: Any) -> Ack:
        conversation_id = _uuid_field(data, "conversationId")
        # Not rate-limited: leaving touches no database and only lowers the load.
        await sio.leave_room(sid, conversation_room(conversation_id))
        return {"ok": True}

    async def send_message(sid: str, session: dict[str, Any], data: Any) -> Ack:
        conversation_id = _uuid_field(data, "conversationId")
        payload = data if isinstance(data, dict) else {}
        user_id: uuid.UUID = session["user_id"]

        draft = prepare_draft(
            conversation_id=conversation_id,
            sender_id=user_id,
            body=payload.get("body"),
            client_message_id=payload.get("clientMessageId"),
        )
        # The writer takes the message token, for the whole batch at once.
        sent = await get_writer().send(Outgoing(draft=draft, origin_sid=sid))
        if not sent.created and sent.charged:
            await refund_message_token(user_id)
        message = sent.message
        return {
            "id": str(message.id),
            "conversationId": str(message.conversation_id),
            "clientMessageId": message.client_message_id,
            "createdAt": message.created_at.isoformat(),
            "duplicate": not sent.created,
        }

    async def messages_read(sid: str, session: dict[str, Any], data: Any) -> Ack:
        conversation_id = _uuid_field(data, "conversationId")
        message_id = _uuid_field(data, "messageId")
        await check_control_rate(session["user_id"])
        async with session_scope() as db:
            participant = await service.mark_read(
                db,
                conversation_id=conversation_id,
                user_id=session["user_id"],
                message_id=message_id,
            )
            last_read = participant.last_read_message_id
        return {"ok": True, "lastReadMessageId": str(last_read) if last_read else None}

    _guarded(sio, "join_conversation", join_conversation)
    _guarded(sio, "leave_conversation", leave_conversation)
    _guarded(sio, "send_message", send_message)
    _guarded(sio, "messages_read", messages_read)

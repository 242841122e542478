"""Sending messages: validation, the batched write, the `new_message` event and pushes.

The HTTP route sends one message in its request transaction. The Socket.IO path goes
through ``taskgo.chat.writer``, which writes the messages of many sockets in one
transaction. Both end in ``write_messages``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.chat.models import Message
from taskgo.chat.notify import push_new_message
from taskgo.chat.service import conversation_not_found, event_rooms
from taskgo.chat.store import Draft, StoreResult, store_messages
from taskgo.chat.validation import check_client_message_id, normalize_body
from taskgo.errors import AppError
from taskgo.realtime import emit_after_commit

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SentMessage:
    message: Message
    # False when the message already existed under the same clientMessageId (a resend).
    created: bool


@dataclass(frozen=True)
class Outgoing:
    draft: Draft
    # The sending socket, which gets the ack instead of the `new_message` event.
    origin_sid: str | None = None


def message_payload(message: Message) -> dict[str, Any]:
    """Serialize a message as the API and the `new_message` event show it."""
    return {
        "id": message.id,
        "conversationId": message.conversation_id,
        "senderId": message.sender_id,
        "body": message.body,
        "clientMessageId": message.client_message_id,
        "createdAt": message.created_at,
    }


def prepare_draft(
    *, conversation_id: uuid.UUID, sender_id: uuid.UUID, body: object, client_message_id: object
) -> Draft:
    """Validate a message and give it its id; raise AppError naming the bad field."""
    return Draft(
        message_id=uuid.uuid4(),
        conversation_id=conversation_id,
        sender_id=sender_id,
        body=normalize_body(body),
        client_message_id=check_client_message_id(client_message_id),
    )


async def _previous_messages(
    session: AsyncSession, results: list[StoreResult]
) -> dict[tuple[uuid.UUID, uuid.UUID, str], Message]:
    keys = [
        (result.draft.conversation_id, result.draft.sender_id, result.draft.client_message_id)
        for result in results
    ]
    if not keys:
        return {}
    rows = await session.scalars(
        select(Message).where(
            tuple_(Message.conversation_id, Message.sender_id, Message.client_message_id).in_(keys)
        )
    )
    return {(row.conversation_id, row.sender_id, row.client_message_id): row for row in rows}


async def write_messages(
    session: AsyncSession, outgoing: list[Outgoing]
) -> list[SentMessage | AppError]:
    """Store the drafts and queue their events and offline pushes; one outcome per draft.

    Idempotent by clientMessageId per sender. A resend with the same body gets the stored
    message and announces nothing. A resend with another body gets a 409 error. A sender
    who is not a participant gets the 404 that hides the conversation.
    """
    results = await store_messages(session, [item.draft for item in outgoing])
    unsent = [result for result in results if result.created_at is None]
    previous = await _previous_messages(session, unsent)

    outcomes: list[SentMessage | AppError] = []
    for item, result in zip(outgoing, results, strict=True):
        draft = result.draft
        if result.created_at is None:
            stored = previous.get((draft.conversation_id, draft.sender_id, draft.client_message_id))
            outcomes.append(_resend(stored, body=draft.body))
            continue

        message = Message(
            id=draft.message_id,
            conversation_id=draft.conversation_id,
            sender_id=draft.sender_id,
            body=draft.body,
            client_message_id=draft.client_message_id,
            created_at=result.created_at,
        )
        emit_after_commit(
            session,
            "new_message",
            message_payload(message),
            room=event_rooms(draft.conversation_id, result.members),
            skip_sid=item.origin_sid,
        )
        recipients = [uid for uid in result.members if uid != draft.sender_id]
        await push_new_message(session, message=message, recipients=recipients)
        log.info(
            "chat.message_sent",
            conversation_id=str(draft.conversation_id),
            message_id=str(draft.message_id),
            sender_id=str(draft.sender_id),
        )
        outcomes.append(SentMessage(message=message, created=True))
    return outcomes


def _resend(stored: Message | None, *, body: str) -> SentMessage | AppError:
    if stored is None:
        return conversation_not_found()
    if stored.body != body:
        return AppError("chat.client_message_id_reused", status=409, field="clientMessageId")
    return SentMessage(message=stored, created=False)


async def send_message(
    session: AsyncSession,
    *,
    conversation_id: uuid.UUID,
    sender_id: uuid.UUID,
    body: object,
    client_message_id: object,
    origin_sid: str | None = None,
) -> SentMessage:
    """Validate and store one message in ``session``'s transaction; raise AppError on failure."""
    draft = prepare_draft(
        conversation_id=conversation_id,
        sender_id=sender_id,
        body=body,
        client_message_id=client_message_id,
    )
    (outcome,) = await write_messages(session, [Outgoing(draft=draft, origin_sid=origin_sid)])
    if isinstance(outcome, AppError):
        raise outcome
    return outcome

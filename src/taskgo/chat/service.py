"""Order chat rules: conversations per purchase, messages, history and read receipts.

Services flush but never commit; events go out through ``emit_after_commit`` so nothing is
announced that was not stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import DateTime, cast, func, literal, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.chat.models import (
    Conversation,
    ConversationParticipant,
    ConversationType,
    Message,
    ParticipantRole,
)
from taskgo.chat.notify import push_new_message
from taskgo.chat.validation import check_client_message_id, normalize_body
from taskgo.errors import AppError
from taskgo.pagination import apply_keyset, encode_cursor, page_of
from taskgo.realtime import conversation_room, emit_after_commit, user_room

log = structlog.get_logger(__name__)

# One microsecond is the resolution of timestamptz, so it is the smallest step that keeps
# message timestamps strictly increasing within a conversation.
_ONE_MICROSECOND = text("interval '1 microsecond'")
_MINUS_INFINITY = cast(literal("-infinity"), DateTime(timezone=True))


@dataclass(frozen=True)
class SentMessage:
    message: Message
    # False when the message already existed under the same clientMessageId (a resend).
    created: bool


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


def _not_found() -> AppError:
    return AppError("chat.conversation_not_found", status=404)


async def get_or_create_order_conversation(
    session: AsyncSession, *, purchase_id: uuid.UUID, buyer_id: uuid.UUID, seller_id: uuid.UUID
) -> Conversation:
    """Return the purchase's chat, creating it with the buyer and seller as its participants.

    Safe under concurrent calls: the unique purchase id makes one insert win and the others
    read the winner's row.
    """
    if buyer_id == seller_id:
        raise AppError("chat.same_participant", status=409)

    inserted = await session.scalar(
        insert(Conversation)
        .values(id=uuid.uuid4(), type=ConversationType.ORDER_CHAT.value, purchase_id=purchase_id)
        .on_conflict_do_nothing(index_elements=[Conversation.purchase_id])
        .returning(Conversation.id)
    )
    if inserted is not None:
        await session.execute(
            insert(ConversationParticipant).values(
                [
                    {"conversation_id": inserted, "user_id": buyer_id,
                     "role": ParticipantRole.BUYER.value},
                    {"conversation_id": inserted, "user_id": seller_id,
                     "role": ParticipantRole.SELLER.value},
                ]
            )
        )
        log.info("chat.conversation_created", conversation_id=str(inserted),
                 purchase_id=str(purchase_id))

    conversation = await session.scalar(
        select(Conversation).where(Conversation.purchase_id == purchase_id)
    )
    if conversation is None:  # pragma: no cover - inserted above or by a concurrent request
        raise AppError("chat.conversation_unavailable", status=503)
    return conversation


async def require_participant(
    session: AsyncSession, *, conversation_id: uuid.UUID, user_id: uuid.UUID
) -> ConversationParticipant:
    """Return the caller's participant row or raise 404, which hides the chat from others."""
    participant = await session.get(ConversationParticipant, (conversation_id, user_id))
    if participant is None:
        raise _not_found()
    return participant


async def participants(
    session: AsyncSession, *, conversation_id: uuid.UUID
) -> list[ConversationParticipant]:
    result = await session.scalars(
        select(ConversationParticipant)
        .where(ConversationParticipant.conversation_id == conversation_id)
        .order_by(ConversationParticipant.role)
    )
    return list(result)


async def participant_ids(session: AsyncSession, *, conversation_id: uuid.UUID) -> list[uuid.UUID]:
    result = await session.scalars(
        select(ConversationParticipant.user_id)
        .where(ConversationParticipant.conversation_id == conversation_id)
        .order_by(ConversationParticipant.role)
    )
    return list(result)


def _event_rooms(conversation_id: uuid.UUID, participants: list[uuid.UUID]) -> list[str]:
    # The participants' user rooms also reach sockets that have not joined the chat, such as
    # an app open on another screen. A socket in both rooms still gets each event once.
    return [conversation_room(conversation_id), *(user_room(uid) for uid in participants)]


async def _lock_and_stamp(
    session: AsyncSession, *, conversation_id: uuid.UUID, sender_id: uuid.UUID
) -> tuple[datetime, list[uuid.UUID]]:
    # Locking the conversation row serializes writers of one chat until they commit, and the
    # timestamp is taken after the lock, so a message that commits later always sorts later.
    # That is what lets a client page forward from a message id without missing any.
    is_participant = (
        select(literal(1))
        .where(
            ConversationParticipant.conversation_id == Conversation.id,
            ConversationParticipant.user_id == sender_id,
        )
        .exists()
    )
    members = (
        select(func.array_agg(ConversationParticipant.user_id))
        .where(ConversationParticipant.conversation_id == Conversation.id)
        .scalar_subquery()
    )
    row = (
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id, is_participant)
            .values(
                last_message_at=func.greatest(
                    func.clock_timestamp(),
                    func.coalesce(Conversation.last_message_at, _MINUS_INFINITY)
                    + _ONE_MICROSECOND,
                )
            )
            .returning(Conversation.last_message_at, members)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if row is None:
        raise _not_found()
    # asyncpg decodes uuid[] into its own UUID subclass; callers compare with uuid.UUID.
    return row[0], [uuid.UUID(str(member)) for member in row[1]]


async def _existing_message(
    session: AsyncSession, *, conversation_id: uuid.UUID, sender_id: uuid.UUID,
    client_message_id: str,
) -> Message | None:
    return await session.scalar(
        select(Message).where(
            Message.conversation_id == conversation_id,
            Message.sender_id == sender_id,
            Message.client_message_id == client_message_id,
        )
    )


async def send_message(
    session: AsyncSession,
    *,
    conversation_id: uuid.UUID,
    sender_id: uuid.UUID,
    body: object,
    client_message_id: object,
    origin_sid: str | None = None,
) -> SentMessage:
    """Store a message and queue its `new_message` event and offline pushes.

    Idempotent by ``client_message_id`` per sender: a resend with the same body returns the
    stored message and announces nothing; a resend with another body raises 409.
    ``origin_sid`` is the sending socket, which gets the ack instead of the event.
    """
    text_body = normalize_body(body)
    client_id = check_client_message_id(client_message_id)

    previous = await _existing_message(
        session, conversation_id=conversation_id, sender_id=sender_id, client_message_id=client_id
    )
    if previous is not None:
        return _resend(previous, body=text_body)

    created_at, participants = await _lock_and_stamp(
        session, conversation_id=conversation_id, sender_id=sender_id
    )
    message_id = uuid.uuid4()
    inserted = await session.scalar(
        insert(Message)
        .values(
            id=message_id,
            conversation_id=conversation_id,
            sender_id=sender_id,
            body=text_body,
            client_message_id=client_id,
            created_at=created_at,
        )
        .on_conflict_do_nothing(constraint="uq_messages_client_message_id")
        .returning(Message.id)
    )
    if inserted is None:
        # A concurrent resend committed while this request waited for the lock.
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(
                last_message_at=select(func.max(Message.created_at))
                .where(Message.conversation_id == conversation_id)
                .scalar_subquery()
            )
            .execution_options(synchronize_session=False)
        )
        previous = await _existing_message(
            session, conversation_id=conversation_id, sender_id=sender_id,
            client_message_id=client_id,
        )
        assert previous is not None
        return _resend(previous, body=text_body)

    message = Message(
        id=message_id,
        conversation_id=conversation_id,
        sender_id=sender_id,
        body=text_body,
        client_message_id=client_id,
        created_at=created_at,
    )
    emit_after_commit(
        session,
        "new_message",
        message_payload(message),
        room=_event_rooms(conversation_id, participants),
        skip_sid=origin_sid,
    )
    recipients = [uid for uid in participants if uid != sender_id]
    await push_new_message(session, message=message, recipients=recipients)
    log.info("chat.message_sent", conversation_id=str(conversation_id),
             message_id=str(message_id), sender_id=str(sender_id))
    return SentMessage(message=message, created=True)


def _resend(previous: Message, *, body: str) -> SentMessage:
    if previous.body != body:
        raise AppError("chat.client_message_id_reused", status=409, field="clientMessageId")
    return SentMessage(message=previous, created=False)


async def list_messages(
    session: AsyncSession,
    *,
    conversation_id: uuid.UUID,
    user_id: uuid.UUID,
    cursor: str | None,
    limit: int,
    after_message_id: uuid.UUID | None = None,
) -> tuple[list[Message], str | None]:
    """Return one page of a conversation's messages and the cursor of the next page.

    Without ``after_message_id`` pages go from the newest message back. With it, pages go
    forward in send order starting just after that message, which is how a client that was
    offline catches up; its next page takes the same ``after`` plus the returned cursor.
    """
    await require_participant(session, conversation_id=conversation_id, user_id=user_id)
    query = select(Message).where(Message.conversation_id == conversation_id)

    newest_first = after_message_id is None
    if after_message_id is not None and cursor is None:
        anchor = await session.get(Message, after_message_id)
        if anchor is None or anchor.conversation_id != conversation_id:
            raise AppError("chat.message_not_found", status=404, field="after")
        cursor = encode_cursor(anchor.created_at, anchor.id)

    query = apply_keyset(
        query,
        created_at=Message.created_at,
        row_id=Message.id,
        cursor=cursor,
        limit=limit,
        newest_first=newest_first,
    )
    rows = list(await session.scalars(query))
    return page_of(rows, limit=limit, key=lambda message: (message.created_at, message.id))


async def unread_count(
    session: AsyncSession, *, participant: ConversationParticipant
) -> int:
    """Count the other participants' messages newer than the participant's last read one."""
    query = select(func.count()).select_from(Message).where(
        Message.conversation_id == participant.conversation_id,
        Message.sender_id != participant.user_id,
    )
    if participant.last_read_message_id is not None:
        last_read = await session.get(Message, participant.last_read_message_id)
        if last_read is not None:
            query = query.where(
                tuple_(Message.created_at, Message.id) > tuple_(
                    literal(last_read.created_at), literal(last_read.id)
                )
            )
    return int(await session.scalar(query) or 0)


async def mark_read(
    session: AsyncSession,
    *,
    conversation_id: uuid.UUID,
    user_id: uuid.UUID,
    message_id: uuid.UUID,
) -> ConversationParticipant:
    """Record that ``user_id`` read up to ``message_id`` and queue a `messages_read` event.

    The read position only moves forward: marking an older message changes nothing and
    sends no event.
    """
    # The row lock orders concurrent marks by the same user, so the newest one wins.
    participant = await session.get(
        ConversationParticipant, (conversation_id, user_id), with_for_update=True
    )
    if participant is None:
        raise _not_found()
    message = await session.get(Message, message_id)
    if message is None or message.conversation_id != conversation_id:
        raise AppError("chat.message_not_found", status=404, field="messageId")

    if participant.last_read_message_id is not None:
        current = await session.get(Message, participant.last_read_message_id)
        if current is not None and (current.created_at, current.id) >= (
            message.created_at,
            message.id,
        ):
            return participant

    read_at = await session.scalar(select(func.now()))
    participant.last_read_message_id = message.id
    participant.last_read_at = read_at
    await session.flush()

    members = await participant_ids(session, conversation_id=conversation_id)
    emit_after_commit(
        session,
        "messages_read",
        {
            "conversationId": conversation_id,
            "userId": user_id,
            "messageId": message.id,
            "readAt": read_at,
        },
        room=_event_rooms(conversation_id, members),
    )
    return participant

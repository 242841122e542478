"""Order chat rules: conversations per purchase, messages, history and read receipts.

Services flush but never commit; events go out through ``emit_after_commit`` so nothing is
announced that was not stored.
"""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy import func, literal, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.chat.models import (
    Conversation,
    ConversationParticipant,
    ConversationType,
    Message,
    ParticipantRole,
)
from taskgo.errors import AppError
from taskgo.pagination import apply_keyset, decode_cursor, encode_cursor, page_of
from taskgo.realtime import conversation_room, emit_after_commit, user_room

log = structlog.get_logger(__name__)


def conversation_not_found() -> AppError:
    """Build the 404 for an unknown conversation and for one the caller is not part of."""
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
                    {
                        "conversation_id": inserted,
                        "user_id": buyer_id,
                        "role": ParticipantRole.BUYER.value,
                    },
                    {
                        "conversation_id": inserted,
                        "user_id": seller_id,
                        "role": ParticipantRole.SELLER.value,
                    },
                ]
            )
        )
        log.info(
            "chat.conversation_created", conversation_id=str(inserted), purchase_id=str(purchase_id)
        )

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
        raise conversation_not_found()
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


def event_rooms(conversation_id: uuid.UUID, participants: list[uuid.UUID]) -> list[str]:
    # The participants' user rooms also reach sockets that have not joined the chat, such as
    # an app open on another screen. A socket in both rooms still gets each event once.
    return [conversation_room(conversation_id), *(user_room(uid) for uid in participants)]


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
    offline catches up. Its next page takes the same ``after`` plus the returned cursor.
    """
    await require_participant(session, conversation_id=conversation_id, user_id=user_id)
    query = select(Message).where(Message.conversation_id == conversation_id)

    newest_first = after_message_id is None
    if after_message_id is not None:
        anchor = await session.get(Message, after_message_id)
        if anchor is None or anchor.conversation_id != conversation_id:
            raise AppError("chat.message_not_found", status=404, field="after")
        # Pages never start before the anchor, even with an empty cursor (`cursor=`) or one
        # from before it, so a client catching up gets no message twice.
        start = (anchor.created_at, anchor.id)
        if not cursor or decode_cursor(cursor) < start:
            cursor = encode_cursor(*start)

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


async def unread_count(session: AsyncSession, *, participant: ConversationParticipant) -> int:
    """Count the other participants' messages newer than the participant's last read one."""
    query = (
        select(func.count())
        .select_from(Message)
        .where(
            Message.conversation_id == participant.conversation_id,
            Message.sender_id != participant.user_id,
        )
    )
    if participant.last_read_message_id is not None:
        last_read = await session.get(Message, participant.last_read_message_id)
        if last_read is not None:
            query = query.where(
                tuple_(Message.created_at, Message.id)
                > tuple_(literal(last_read.created_at), literal(last_read.id))
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
        raise conversation_not_found()
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
        room=event_rooms(conversation_id, members),
    )
    return participant

"""HTTP routes of the order chat: the purchase's conversation, history and read receipts."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from taskgo.auth.deps import CurrentUser
from taskgo.chat import service
from taskgo.chat.models import Conversation
from taskgo.chat.ratelimit import check_control_rate
from taskgo.chat.schemas import (
    ChatRef,
    ConversationOut,
    MessageOut,
    MessagePage,
    ParticipantOut,
    ReadIn,
    SendMessageIn,
)
from taskgo.chat.sending import send_message
from taskgo.db.session import DbSession
from taskgo.pagination import DEFAULT_LIMIT, Cursor, Limit

router = APIRouter(prefix="/api", tags=["chat"])

After = Annotated[
    uuid.UUID | None,
    Query(description="Return the messages after this one, oldest first (catch-up)."),
]


@router.get("/purchases/{purchase_id}/chat", response_model=ChatRef)
async def purchase_chat(purchase_id: uuid.UUID, user: CurrentUser, session: DbSession) -> ChatRef:
    """Get or create the purchase's chat between its buyer and seller."""
    from taskgo.purchases.service import get_purchase_for_participant

    purchase = await get_purchase_for_participant(session, purchase_id=purchase_id, user=user)
    conversation = await service.get_or_create_order_conversation(
        session,
        purchase_id=purchase.id,
        buyer_id=purchase.buyer_id,
        seller_id=purchase.seller_id,
    )
    return ChatRef(conversation_id=conversation.id)


@router.get("/conversations/{conversation_id}", response_model=ConversationOut)
async def get_conversation(
    conversation_id: uuid.UUID, user: CurrentUser, session: DbSession
) -> ConversationOut:
    me = await service.require_participant(
        session, conversation_id=conversation_id, user_id=user.id
    )
    conversation = await session.get(Conversation, conversation_id)
    assert conversation is not None
    participants = await service.participants(session, conversation_id=conversation_id)
    return ConversationOut(
        id=conversation.id,
        type=conversation.type,
        purchase_id=conversation.purchase_id,
        last_message_at=conversation.last_message_at,
        participants=[ParticipantOut.model_validate(p) for p in participants],
        unread_count=await service.unread_count(session, participant=me),
    )


@router.get("/conversations/{conversation_id}/messages", response_model=MessagePage)
async def list_messages(
    conversation_id: uuid.UUID,
    user: CurrentUser,
    session: DbSession,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> MessagePage:
    """List messages newest first, or with `after` oldest first from just after that message.

    To catch up after being offline, pass the id of the last message the client has as
    `after`, then follow `nextCursor` (with the same `after`) until it is null.
    """
    messages, next_cursor = await service.list_messages(
        session,
        conversation_id=conversation_id,
        user_id=user.id,
        cursor=cursor,
        limit=limit,
        after_message_id=after,
    )
    return MessagePage(
        items=[MessageOut.model_validate(message) for message in messages],
        next_cursor=next_cursor,
    )


@router.post(
    "/conversations/{conversation_id}/messages",
    response_model=MessageOut,
    status_code=status.HTTP_201_CREATED,
)
async def post_message(
    conversation_id: uuid.UUID,
    body: SendMessageIn,
    user: CurrentUser,
    session: DbSession,
    response: Response,
) -> MessageOut:
    """Send a message without a socket; a resend with the same clientMessageId returns 200."""
    sent = await send_message(
        session,
        conversation_id=conversation_id,
        sender_id=user.id,
        body=body.body,
        client_message_id=body.client_message_id,
    )
    if not sent.created:
        response.status_code = status.HTTP_200_OK
    return MessageOut.model_validate(sent.message)


@router.post("/conversations/{conversation_id}/read", response_model=ParticipantOut)
async def mark_read(
    conversation_id: uuid.UUID, body: ReadIn, user: CurrentUser, session: DbSession
) -> ParticipantOut:
    """Move the caller's read position forward to `messageId` (never backward)."""
    await check_control_rate(user.id)
    participant = await service.mark_read(
        session, conversation_id=conversation_id, user_id=user.id, message_id=body.message_id
    )
    return ParticipantOut.model_validate(participant)

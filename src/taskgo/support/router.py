"""HTTP routes of the support assistant, and the team's routes for flagged conversations."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from fastapi.responses import JSONResponse

from taskgo.auth.deps import AdminUser, CurrentUser
from taskgo.db.session import DbSession
from taskgo.i18n import current_locale
from taskgo.idempotency import IdempotencyKey, claim, remember
from taskgo.pagination import DEFAULT_LIMIT, Cursor, Limit
from taskgo.support import admin_service, service
from taskgo.support.schemas import (
    AgentMessageIn,
    AgentMessageOut,
    ConversationOut,
    ConversationPage,
    ConversationRef,
    FlaggedConversationOut,
    FlaggedConversationPage,
    MessageIn,
    MessageOut,
    MessagePage,
    ReplyOut,
    SendMessageOut,
)

router = APIRouter(prefix="/api/support", tags=["support"])
admin_router = APIRouter(prefix="/api/admin/support", tags=["support", "admin"])


@router.post("/conversations", status_code=status.HTTP_201_CREATED, response_model=ConversationRef)
async def create_conversation(user: CurrentUser, session: DbSession) -> ConversationRef:
    conversation = await service.create_conversation(session, user=user)
    return ConversationRef(conversation_id=conversation.id)


@router.get("/conversations", response_model=ConversationPage)
async def list_conversations(
    user: CurrentUser, session: DbSession, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> ConversationPage:
    rows, next_cursor = await service.list_conversations(
        session, user_id=user.id, cursor=cursor, limit=limit
    )
    return ConversationPage(
        items=[ConversationOut.model_validate(row) for row in rows], next_cursor=next_cursor
    )


@router.get("/conversations/{conversation_id}", response_model=ConversationOut)
async def get_conversation(
    conversation_id: uuid.UUID, user: CurrentUser, session: DbSession
) -> ConversationOut:
    conversation = await service.get_own_conversation(
        session, conversation_id=conversation_id, user_id=user.id
    )
    return ConversationOut.model_validate(conversation)


@router.get("/conversations/{conversation_id}/messages", response_model=MessagePage)
async def list_messages(
    conversation_id: uuid.UUID,
    user: CurrentUser,
    session: DbSession,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> MessagePage:
    """List the conversation's messages, newest first."""
    conversation = await service.get_own_conversation(
        session, conversation_id=conversation_id, user_id=user.id
    )
    rows, next_cursor = await service.list_messages(
        session, conversation=conversation, cursor=cursor, limit=limit
    )
    return MessagePage(
        items=[MessageOut.model_validate(row) for row in rows], next_cursor=next_cursor
    )


@router.post(
    "/conversations/{conversation_id}/messages",
    response_model=SendMessageOut,
    responses={
        409: {"description": "`support.reply_in_progress`: a reply is still being written."},
        429: {"description": "`support.rate_limited` or `support.daily_budget_exhausted`."},
    },
)
async def send_message(
    conversation_id: uuid.UUID,
    body: MessageIn,
    user: CurrentUser,
    session: DbSession,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Send a message and get the assistant's reply.

    When the model is unavailable the reply is a fallback that offers a person, and the
    conversation is flagged (`needsHuman`) for the team.
    """
    claimed = await claim(
        session,
        user_id=user.id,
        scope=f"support.message:{conversation_id}",
        key=idempotency_key,
        payload=body.model_dump(mode="json"),
    )
    if claimed.replay is not None:
        return claimed.replay

    result = await service.send_message(
        session,
        user=user,
        conversation_id=conversation_id,
        content=body.content,
        locale=current_locale(),
    )
    response = SendMessageOut(
        reply=ReplyOut.model_validate(result.reply),
        message=MessageOut.model_validate(result.user_message),
        notice=result.notice,
        needs_human=result.conversation.needs_human,
    ).model_dump(mode="json")
    await remember(session, claimed, status_code=200, body=response)
    return JSONResponse(response)


@admin_router.get("/conversations", response_model=FlaggedConversationPage)
async def admin_list_conversations(
    admin: AdminUser,
    session: DbSession,
    needs_human: Annotated[bool | None, Query(alias="needsHuman")] = None,
    needs_human_snake: Annotated[
        bool | None, Query(alias="needs_human", include_in_schema=False)
    ] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> FlaggedConversationPage:
    """List conversations for the team; by default only those waiting for a person."""
    # camelCase like every other parameter; the snake_case spelling is still read.
    wanted = needs_human if needs_human is not None else needs_human_snake
    rows, next_cursor = await admin_service.list_conversations(
        session,
        needs_human=True if wanted is None else wanted,
        cursor=cursor,
        limit=limit,
    )
    return FlaggedConversationPage(
        items=[FlaggedConversationOut.model_validate(row) for row in rows],
        next_cursor=next_cursor,
    )


@admin_router.get("/conversations/{conversation_id}/messages", response_model=MessagePage)
async def admin_list_messages(
    conversation_id: uuid.UUID,
    admin: AdminUser,
    session: DbSession,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> MessagePage:
    conversation = await admin_service.get_conversation(session, conversation_id=conversation_id)
    rows, next_cursor = await service.list_messages(
        session, conversation=conversation, cursor=cursor, limit=limit
    )
    return MessagePage(
        items=[MessageOut.model_validate(row) for row in rows], next_cursor=next_cursor
    )


@admin_router.post(
    "/conversations/{conversation_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=AgentMessageOut,
)
async def admin_reply(
    conversation_id: uuid.UUID, body: AgentMessageIn, admin: AdminUser, session: DbSession
) -> AgentMessageOut:
    """Answer the user as a person of the team; the user's sockets get `support_agent_message`."""
    message = await admin_service.reply_as_agent(
        session, admin=admin, conversation_id=conversation_id, content=body.content
    )
    return AgentMessageOut.model_validate(message)


@admin_router.post(
    "/conversations/{conversation_id}/resolve", response_model=FlaggedConversationOut
)
async def admin_resolve(
    conversation_id: uuid.UUID, admin: AdminUser, session: DbSession
) -> FlaggedConversationOut:
    conversation = await admin_service.resolve(
        session, admin=admin, conversation_id=conversation_id
    )
    return FlaggedConversationOut.model_validate(conversation)

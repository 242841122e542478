"""What the TaskGo team does with support conversations: review, answer, resolve.

Each action is written to the audit log in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.admin.service import record_audit
from taskgo.config import get_settings
from taskgo.errors import AppError
from taskgo.pagination import apply_keyset, page_of
from taskgo.realtime import emit_after_commit, user_room
from taskgo.support.models import MessageRole, SupportConversation, SupportMessage
from taskgo.support.redaction import redact
from taskgo.support.service import validate_content
from taskgo.users.models import User

log = structlog.get_logger(__name__)


async def list_conversations(
    session: AsyncSession, *, needs_human: bool | None, cursor: str | None, limit: int
) -> tuple[list[SupportConversation], str | None]:
    query = select(SupportConversation)
    if needs_human is not None:
        query = query.where(SupportConversation.needs_human.is_(needs_human))
    query = apply_keyset(
        query,
        created_at=SupportConversation.created_at,
        row_id=SupportConversation.id,
        cursor=cursor,
        limit=limit,
    )
    rows = list(await session.scalars(query))
    return page_of(rows, limit=limit, key=lambda row: (row.created_at, row.id))


async def get_conversation(
    session: AsyncSession, *, conversation_id: uuid.UUID
) -> SupportConversation:
    conversation = await session.get(SupportConversation, conversation_id)
    if conversation is None:
        raise AppError("support.conversation_not_found", status=404)
    return conversation


async def reply_as_agent(
    session: AsyncSession, *, admin: User, conversation_id: uuid.UUID, content: str
) -> SupportMessage:
    """Store a message from a person of the team and send it to the user's sockets."""
    conversation = await get_conversation(session, conversation_id=conversation_id)
    text = validate_content(content, settings=get_settings())
    redacted = redact(text)
    now = datetime.now(UTC)
    message = SupportMessage(
        conversation_id=conversation.id,
        user_id=conversation.user_id,
        author_id=admin.id,
        role=MessageRole.AGENT,
        content=redacted.text,
        redactions=redacted.counts,
        created_at=now,
    )
    session.add(message)
    conversation.last_message_at = now
    await session.flush()

    await record_audit(
        session,
        actor_id=admin.id,
        action="support.agent_replied",
        target_type="support_conversation",
        target_id=conversation.id,
        details={"messageId": str(message.id)},
    )
    emit_after_commit(
        session,
        "support_agent_message",
        {
            "conversationId": str(conversation.id),
            "message": {
                "id": str(message.id),
                "role": message.role,
                "content": message.content,
                "createdAt": now.isoformat(),
            },
        },
        room=user_room(conversation.user_id),
    )
    return message


async def resolve(
    session: AsyncSession, *, admin: User, conversation_id: uuid.UUID
) -> SupportConversation:
    """Clear the conversation's flag; resolving a conversation that is not flagged is a no-op."""
    conversation = await get_conversation(session, conversation_id=conversation_id)
    if not conversation.needs_human:
        return conversation
    previous = {"reason": conversation.flag_reason, "detail": conversation.flag_detail}
    conversation.needs_human = False
    conversation.flag_reason = None
    conversation.flag_detail = None
    conversation.flagged_at = None
    await session.flush()
    await record_audit(
        session,
        actor_id=admin.id,
        action="support.flag_resolved",
        target_type="support_conversation",
        target_id=conversation.id,
        details=previous,
    )
    log.info("support.conversation.resolved", conversation_id=str(conversation.id))
    return conversation

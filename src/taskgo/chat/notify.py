"""Push notifications for chat messages to participants with no connected socket."""

from __future__ import annotations

import uuid

import structlog
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.chat.models import Message
from taskgo.realtime import presence
from taskgo.users.models import User

log = structlog.get_logger(__name__)


async def offline_recipients(recipients: list[uuid.UUID]) -> list[uuid.UUID]:
    """Return the recipients with no connected socket in any server process.

    When presence cannot be read (Redis down), everyone counts as offline: an extra push is
    better than a missed message.
    """
    if not recipients:
        return []
    try:
        online = await presence.online_users(recipients)
    except (RedisError, OSError) as exc:
        log.warning("chat.presence_unavailable", error=repr(exc))
        return list(recipients)
    return [uid for uid in recipients if uid not in online]


async def push_new_message(
    session: AsyncSession, *, message: Message, recipients: list[uuid.UUID]
) -> None:
    """Queue a push for each offline recipient, in the message's transaction."""
    offline = await offline_recipients(recipients)
    if not offline:
        return

    from taskgo.notifications.service import notify

    sender_name = await session.scalar(select(User.name).where(User.id == message.sender_id))
    for user_id in offline:
        await notify(
            session,
            user_id=user_id,
            kind="chat_message",
            title_key="push.chat_message.title",
            body_key="push.chat_message.body",
            params={"sender": sender_name or "", "body": message.body},
            data={
                "conversationId": str(message.conversation_id),
                "messageId": str(message.id),
            },
        )
    log.info("chat.push_queued", message_id=str(message.id), recipients=len(offline))

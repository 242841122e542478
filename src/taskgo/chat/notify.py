"""Push notifications for chat messages to participants with no connected socket."""

from __future__ import annotations

import uuid

import structlog
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.chat.store import StoredMessage
from taskgo.realtime import presence
from taskgo.users.models import User

log = structlog.get_logger(__name__)

# The notification row and the push show a preview; the app opens the chat for the rest.
PREVIEW_CHARS = 200


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
    session: AsyncSession, *, message: StoredMessage, recipients: list[uuid.UUID]
) -> None:
    """Queue a push for each offline recipient, in the message's transaction."""
    offline = await offline_recipients(recipients)
    if offline:
        await queue_push(session, message=message, recipients=offline)


async def queue_push(
    session: AsyncSession, *, message: StoredMessage, recipients: list[uuid.UUID]
) -> None:
    """Queue the new-message push and in-app notification for ``recipients``."""
    from taskgo.notifications.service import notify

    sender_name = await session.scalar(select(User.name).where(User.id == message.sender_id))
    await notify(
        session,
        user_ids=recipients,
        kind="chat_message",
        title_key="push.chat_message.title",
        body_key="push.chat_message.body",
        params={"sender": sender_name or "", "body": preview(message.body)},
        data={"conversationId": message.conversation_id, "messageId": message.id},
    )
    log.info("chat.push_queued", message_id=str(message.id), recipients=len(recipients))


def preview(body: str, *, limit: int = PREVIEW_CHARS) -> str:
    """Cut a message body for a notification, at a word boundary when there is one."""
    if len(body) <= limit:
        return body
    cut = body[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"

"""Request and response bodies of the support routes."""

from __future__ import annotations

import uuid
from datetime import datetime

from taskgo.schemas import ApiModel


class ConversationRef(ApiModel):
    conversation_id: uuid.UUID


class ConversationOut(ApiModel):
    id: uuid.UUID
    created_at: datetime
    last_message_at: datetime | None
    needs_human: bool


class ConversationPage(ApiModel):
    items: list[ConversationOut]
    next_cursor: str | None


class MessageIn(ApiModel):
    # Length and emptiness are checked by the service, so HTTP and Socket.IO reject the
    # same input with the same codes (`support.message_empty`, `support.message_too_long`).
    content: str


class MessageOut(ApiModel):
    id: uuid.UUID
    role: str
    # Stored after redaction: a CPF typed by the user reads back as "[CPF]".
    content: str
    truncated: bool
    created_at: datetime


class MessagePage(ApiModel):
    items: list[MessageOut]
    next_cursor: str | None


class ReplyOut(ApiModel):
    id: uuid.UUID
    role: str
    content: str
    created_at: datetime


class SendMessageOut(ApiModel):
    reply: ReplyOut
    message: MessageOut
    # Set when the message was cut before going to the assistant.
    notice: str | None
    needs_human: bool


class FlaggedConversationOut(ApiModel):
    id: uuid.UUID
    user_id: uuid.UUID
    needs_human: bool
    flag_reason: str | None
    flag_detail: str | None
    flagged_at: datetime | None
    last_message_at: datetime | None
    created_at: datetime


class FlaggedConversationPage(ApiModel):
    items: list[FlaggedConversationOut]
    next_cursor: str | None


class AgentMessageIn(ApiModel):
    content: str


class AgentMessageOut(ApiModel):
    id: uuid.UUID
    role: str
    content: str
    author_id: uuid.UUID | None
    created_at: datetime

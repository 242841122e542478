"""Request and response bodies of the chat's HTTP routes."""

from __future__ import annotations

import uuid
from datetime import datetime

from taskgo.schemas import ApiModel


class ChatRef(ApiModel):
    conversation_id: uuid.UUID


class MessageOut(ApiModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    sender_id: uuid.UUID
    body: str
    client_message_id: str
    created_at: datetime


class MessagePage(ApiModel):
    items: list[MessageOut]
    next_cursor: str | None


class SendMessageIn(ApiModel):
    # The service checks the content of both strings, so HTTP and Socket.IO reject the same
    # text with the same codes (`chat.body_too_long`, `chat.client_message_id_invalid`, ...).
    # A value that is not a string, or missing, fails here first over HTTP
    # (`validation.string_type`, `validation.missing`); over Socket.IO it is `chat.body_invalid`.
    body: str
    client_message_id: str


class ReadIn(ApiModel):
    message_id: uuid.UUID


class ParticipantOut(ApiModel):
    user_id: uuid.UUID
    role: str
    last_read_message_id: uuid.UUID | None
    last_read_at: datetime | None


class ConversationOut(ApiModel):
    id: uuid.UUID
    type: str
    purchase_id: uuid.UUID | None
    last_message_at: datetime | None
    participants: list[ParticipantOut]
    # Messages from the other participants after the caller's last read one.
    unread_count: int

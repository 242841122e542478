"""Conversations, their participants and messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from taskgo.db.base import Base, Timestamps, UUIDPrimaryKey


class ConversationType(StrEnum):
    ORDER_CHAT = "order_chat"


class ParticipantRole(StrEnum):
    BUYER = "buyer"
    SELLER = "seller"


class Conversation(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        CheckConstraint("type IN ('order_chat')", name="type"),
        CheckConstraint(
            "type <> 'order_chat' OR purchase_id IS NOT NULL", name="order_chat_has_purchase"
        ),
    )

    type: Mapped[str] = mapped_column(String(32))
    # NOTE: no foreign key, because the purchases table is created by a later migration.
    # Conversations are only created from a purchase read through the purchases service.
    purchase_id: Mapped[uuid.UUID | None] = mapped_column(unique=True)
    # Timestamp of the newest message. Each new message gets a later one, taken while this
    # row is locked, so messages are ordered by commit within a conversation.
    last_message_at: Mapped[datetime | None] = mapped_column()


class ConversationParticipant(Base):
    __tablename__ = "conversation_participants"
    __table_args__ = (
        CheckConstraint("role IN ('buyer', 'seller')", name="role"),
        UniqueConstraint("conversation_id", "role", name="uq_conversation_participants_role"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    # The newest message this participant has read; only moves forward.
    last_read_message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL")
    )
    last_read_at: Mapped[datetime | None] = mapped_column()


class Message(UUIDPrimaryKey, Base):
    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint("char_length(body) BETWEEN 1 AND 4000", name="body_length"),
        CheckConstraint("char_length(client_message_id) BETWEEN 1 AND 64", name="client_id"),
        UniqueConstraint(
            "conversation_id",
            "sender_id",
            "client_message_id",
            name="uq_messages_client_message_id",
        ),
        Index("ix_messages_conversation_created", "conversation_id", "created_at", "id"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    sender_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    body: Mapped[str] = mapped_column(Text)
    client_message_id: Mapped[str] = mapped_column(String(64))
    # Server-assigned; see Conversation.last_message_at.
    created_at: Mapped[datetime] = mapped_column()

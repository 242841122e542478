"""Support conversations with the assistant and their messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from taskgo.db.base import Base, Timestamps, UUIDPrimaryKey


class MessageRole(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    # A human from the TaskGo team answering in the conversation.
    AGENT = "agent"


class FlagReason(StrEnum):
    PROVIDER_FAILURE = "provider_failure"
    HUMAN_REQUESTED = "human_requested"


class SupportConversation(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "support_conversations"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Set when the assistant failed or the user asked for a person; an admin clears it.
    needs_human: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    flag_reason: Mapped[str | None] = mapped_column(String(40))
    flag_detail: Mapped[str | None] = mapped_column(String(40))
    flagged_at: Mapped[datetime | None] = mapped_column()
    last_message_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        Index("ix_support_conversations_user_id_created_at", "user_id", "created_at"),
        Index(
            "ix_support_conversations_flagged_at",
            "flagged_at",
            postgresql_where=text("needs_human"),
        ),
        CheckConstraint(
            "flag_reason IS NULL OR flag_reason IN ('provider_failure', 'human_requested')",
            name="flag_reason",
        ),
    )


class SupportMessage(UUIDPrimaryKey, Base):
    __tablename__ = "support_messages"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("support_conversations.id", ondelete="CASCADE")
    )
    # The conversation owner, copied here so the rate limit and the daily token budget
    # count a user's rows through one index.
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The admin who wrote an agent message.
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    role: Mapped[str] = mapped_column(String(16))
    # Stored after redaction, so documents and account numbers typed into the chat are
    # never kept in clear text.
    content: Mapped[str] = mapped_column(Text)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    redactions: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    client_message_id: Mapped[str | None] = mapped_column(String(100))
    provider: Mapped[str | None] = mapped_column(String(20))
    model: Mapped[str | None] = mapped_column(String(100))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    tools_called: Mapped[list[str]] = mapped_column(
        JSONB, default=list, server_default=text("'[]'::jsonb")
    )
    error_kind: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        Index(
            "ix_support_messages_conversation_id_created_at",
            "conversation_id",
            "created_at",
            "id",
        ),
        Index("ix_support_messages_user_id_created_at", "user_id", "created_at"),
        UniqueConstraint(
            "conversation_id",
            "client_message_id",
            name="uq_support_messages_conversation_id_client_message_id",
        ),
        CheckConstraint("role IN ('user', 'assistant', 'agent')", name="role"),
        CheckConstraint("prompt_tokens >= 0 AND completion_tokens >= 0", name="tokens"),
    )

"""In-app notifications, the device tokens pushes go to, and every push attempt."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from taskgo.db.base import Base, Timestamps, UUIDPrimaryKey


class Platform(StrEnum):
    ANDROID = "android"
    IOS = "ios"
    WEB = "web"


class Notification(UUIDPrimaryKey, Base):
    """One message for one user, with title and body already in the user's language."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_id_created_at", "user_id", "created_at", "id"),
        Index(
            "ix_notifications_unread",
            "user_id",
            postgresql_where=text("read_at IS NULL"),
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    read_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class DeviceToken(UUIDPrimaryKey, Timestamps, Base):
    """An FCM registration token of one app install.

    A token belongs to the account last signed in on that device, so registering it again
    under another user moves it. Deactivated tokens stay for the attempt history.
    """

    __tablename__ = "device_tokens"
    __table_args__ = (
        CheckConstraint("platform IN ('android', 'ios', 'web')", name="platform"),
        Index(
            "ix_device_tokens_user_id_active",
            "user_id",
            postgresql_where=text("deactivated_at IS NULL"),
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token: Mapped[str] = mapped_column(String(1024), unique=True)
    platform: Mapped[str] = mapped_column(String(16))
    deactivated_at: Mapped[datetime | None] = mapped_column()
    # The push outcome that retired the token (`token_unregistered`, `token_invalid`).
    deactivation_reason: Mapped[str | None] = mapped_column(String(32))


class PushAttempt(Base):
    """One request to the push provider for one notification and one device token.

    The delivery of a (notification, token) pair is final once an attempt has a final
    outcome. Until then, every attempt counts toward the retry budget.
    """

    __tablename__ = "push_attempts"
    __table_args__ = (
        CheckConstraint(
            "outcome IN ('delivered', 'token_unregistered', 'token_invalid', "
            "'payload_rejected', 'deferred', 'failed', 'retrying')",
            name="outcome",
        ),
        Index(
            "ix_push_attempts_notification_id_device_token_id",
            "notification_id",
            "device_token_id",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    notification_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE")
    )
    device_token_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("device_tokens.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(16))
    attempt_number: Mapped[int] = mapped_column(SmallInteger)
    # `retrying` marks an attempt followed by another one in the same run.
    outcome: Mapped[str] = mapped_column(String(32))
    status_code: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(500))
    retry_after_seconds: Mapped[float | None] = mapped_column(Float)
    provider_message_id: Mapped[str | None] = mapped_column(String(300))
    duration_ms: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column()

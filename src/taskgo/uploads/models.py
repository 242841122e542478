"""Uploaded images: one row per stored file, kept after the file is deleted."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from taskgo.db.base import Base, Timestamps, UUIDPrimaryKey


class UploadPurpose(StrEnum):
    PRODUCT_IMAGE = "product_image"
    AVATAR = "avatar"
    # Identity verification: served only to the owner and admins.
    DOCUMENT = "document"
    SELFIE = "selfie"


PRIVATE_PURPOSES = frozenset({UploadPurpose.DOCUMENT, UploadPurpose.SELFIE})

_PURPOSE_VALUES = ", ".join(f"'{purpose.value}'" for purpose in UploadPurpose)


class Upload(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "uploads"
    __table_args__ = (
        CheckConstraint(f"purpose IN ({_PURPOSE_VALUES})", name="purpose"),
        CheckConstraint("size_bytes > 0", name="size_positive"),
    )

    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(32))
    storage_key: Mapped[str] = mapped_column(String(300), unique=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    # SHA-256 of the stored (re-encoded) file and of the bytes the client sent. Both stay
    # after the file is deleted, as evidence of what was reviewed.
    sha256: Mapped[str] = mapped_column(String(64))
    source_sha256: Mapped[str] = mapped_column(String(64))
    source_format: Mapped[str] = mapped_column(String(8))
    # Set when the file was removed from storage (retention); the row remains.
    file_deleted_at: Mapped[datetime | None] = mapped_column()

    @property
    def is_private(self) -> bool:
        return self.purpose in PRIVATE_PURPOSES

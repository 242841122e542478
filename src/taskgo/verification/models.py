"""Identity verification submissions of partners: images, analysis results, the decision."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from taskgo.db.base import Base, Timestamps, UUIDPrimaryKey

# The unique index behind the duplicate-CPF rule. review.py maps its violation to a 409.
CPF_APPROVED_ONCE_INDEX = "uq_verification_submissions_cpf_approved"
# Characters of the document name the submission keeps. Longer OCR names are shortened.
EXTRACTED_NAME_LENGTH = 200


class SubmissionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class AnalysisStatus(StrEnum):
    QUEUED = "queued"
    DONE = "done"
    # The image files were gone when the job ran. Storage outages are retried by the job
    # instead, and an admin can still decide without the automatic checks.
    FAILED = "failed"


class VerificationSubmission(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "verification_submissions"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status"),
        CheckConstraint("analysis_status IN ('queued', 'done', 'failed')", name="analysis_status"),
        CheckConstraint(
            "(status = 'pending') = (decided_at IS NULL)", name="decided_when_not_pending"
        ),
        CheckConstraint(
            "status <> 'rejected' OR rejection_reason IS NOT NULL", name="rejection_has_reason"
        ),
        # At most one open submission per partner, even under concurrent requests.
        Index(
            "uq_verification_submissions_one_pending",
            "user_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_verification_submissions_queue", "status", "created_at"),
        # One CPF verifies at most one partner, even when two admins approve at once.
        Index(
            CPF_APPROVED_ONCE_INDEX,
            "cpf_fingerprint",
            unique=True,
            postgresql_where=text("status = 'approved'"),
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=SubmissionStatus.PENDING)
    document_front_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("uploads.id"))
    document_back_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("uploads.id"))
    selfie_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("uploads.id"))
    # SHA-256 of the three stored images by role, copied here so the record stays
    # self-contained after retention deletes the files.
    image_hashes: Mapped[dict[str, str]] = mapped_column(JSONB)

    analysis_status: Mapped[str] = mapped_column(String(16), default=AnalysisStatus.QUEUED)
    analysed_at: Mapped[datetime | None] = mapped_column()
    # Face counts, OCR facts and the individual checks; never a CPF in clear text.
    analysis: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    extracted_name: Mapped[str | None] = mapped_column(String(EXTRACTED_NAME_LENGTH))
    extracted_birth_date: Mapped[date | None] = mapped_column(Date)
    # The CPF read by OCR, encrypted; its blind index finds other accounts with the same CPF.
    extracted_cpf_encrypted: Mapped[str | None] = mapped_column(Text)
    cpf_fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)

    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None] = mapped_column()
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    images_deleted_at: Mapped[datetime | None] = mapped_column()

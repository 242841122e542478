"""Partner bank accounts. Account number, holder document and PIX key are stored encrypted.

Each secret column contains a `taskgo.crypto.encrypt_field` token, which carries the id of the
key that sealed it so keys can rotate. Equality lookups (duplicate detection) go through
HMAC blind indexes, never through the clear text.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from taskgo.db.base import Base, Timestamps, UUIDPrimaryKey

HOLDER_NAME_MAX_LENGTH = 120


class ReviewStatus(StrEnum):
    """Outcome of the holder and fraud checks; only `pending_review` waits for an admin."""

    CLEAR = "clear"
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    REJECTED = "rejected"


class ReviewReason(StrEnum):
    HOLDER_CPF_MISMATCH = "holder_cpf_mismatch"
    IDENTITY_UNVERIFIED = "identity_unverified"
    ACCOUNT_SHARED = "account_shared"
    PIX_KEY_SHARED = "pix_key_shared"


class BankAccount(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "bank_accounts"
    __table_args__ = (
        CheckConstraint("holder_document_type IN ('cpf', 'cnpj')", name="holder_document_type"),
        CheckConstraint("account_type IN ('checking', 'savings', 'payment')", name="account_type"),
        CheckConstraint(
            "pix_key_type IS NULL OR pix_key_type IN ('cpf', 'cnpj', 'email', 'phone', 'random')",
            name="pix_key_type",
        ),
        CheckConstraint(
            "(pix_key_type IS NULL) = (pix_key_encrypted IS NULL)"
            " AND (pix_key_type IS NULL) = (pix_key_fingerprint IS NULL)",
            name="pix_key_complete",
        ),
        CheckConstraint(
            "review_status IN ('clear', 'pending_review', 'approved', 'rejected')",
            name="review_status",
        ),
        # One primary account per partner, enforced by the database so that concurrent
        # set-primary calls or first-account creations cannot both win.
        Index(
            "uq_bank_accounts_one_primary",
            "user_id",
            unique=True,
            postgresql_where=text("is_primary"),
        ),
        Index("uq_bank_accounts_user_account", "user_id", "account_fingerprint", unique=True),
        Index(
            "uq_bank_accounts_user_pix_key",
            "user_id",
            "pix_key_fingerprint",
            unique=True,
            postgresql_where=text("pix_key_fingerprint IS NOT NULL"),
        ),
        Index("ix_bank_accounts_account_fingerprint", "account_fingerprint"),
        Index(
            "ix_bank_accounts_pix_key_fingerprint",
            "pix_key_fingerprint",
            postgresql_where=text("pix_key_fingerprint IS NOT NULL"),
        ),
        Index("ix_bank_accounts_user_created", "user_id", "created_at", "id"),
        Index(
            "ix_bank_accounts_pending_review",
            "created_at",
            "id",
            postgresql_where=text("review_status = 'pending_review'"),
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    holder_name: Mapped[str] = mapped_column(String(HOLDER_NAME_MAX_LENGTH))
    holder_document_type: Mapped[str] = mapped_column(String(8))
    holder_document_encrypted: Mapped[str] = mapped_column(Text)
    bank_code: Mapped[str] = mapped_column(String(3))
    bank_ispb: Mapped[str] = mapped_column(String(8))
    agency: Mapped[str] = mapped_column(String(4))
    agency_digit: Mapped[str | None] = mapped_column(String(1))
    # Account number and check digit sealed together as "12345678-9".
    account_encrypted: Mapped[str] = mapped_column(Text)
    account_type: Mapped[str] = mapped_column(String(16))
    account_fingerprint: Mapped[str] = mapped_column(String(128))
    pix_key_type: Mapped[str | None] = mapped_column(String(8))
    pix_key_encrypted: Mapped[str | None] = mapped_column(Text)
    pix_key_fingerprint: Mapped[str | None] = mapped_column(String(128))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    review_status: Mapped[str] = mapped_column(
        String(16), default=ReviewStatus.CLEAR, server_default="clear"
    )
    review_reasons: Mapped[list[str]] = mapped_column(
        ARRAY(String(32)), default=list, server_default="{}"
    )
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    reviewed_at: Mapped[datetime | None] = mapped_column()

"""Payments tables: the ledger, processed webhook events, sellers' connected accounts,
and the local simulator's objects."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from taskgo.db.base import Base, Timestamps, UUIDPrimaryKey
from taskgo.payments.ledger import Account, Kind

_ACCOUNTS = ", ".join(f"'{a.value}'" for a in Account)
_KINDS = ", ".join(f"'{k.value}'" for k in Kind)


class LedgerEntry(UUIDPrimaryKey, Base):
    """One posting of a balanced ledger transaction; the rows of one key sum to zero."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("transaction_key", "account", name="uq_ledger_entries_key_account"),
        CheckConstraint(f"account IN ({_ACCOUNTS})", name="account"),
        CheckConstraint(f"kind IN ({_KINDS})", name="kind"),
        CheckConstraint("amount_cents <> 0", name="amount"),
        Index("ix_ledger_entries_purchase", "purchase_id", "created_at"),
    )

    purchase_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("purchases.id", ondelete="RESTRICT"))
    transaction_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(16))
    # Signed centavos: positive adds to the account, negative takes from it.
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    external_ref: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ProcessedWebhookEvent(Base):
    """A provider event that was handled; its id is never handled again."""

    __tablename__ = "payment_webhook_events"
    __table_args__ = (
        # Dispute events arrive in any order, so a lookup by dispute id shows whether it closed.
        Index("ix_payment_webhook_events_object", "object_id", "event_type"),
    )

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    event_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())


class PaymentAccount(Timestamps, Base):
    """A seller's connected account at the provider, where released escrow is transferred."""

    __tablename__ = "payment_accounts"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str] = mapped_column(String(255), unique=True)
    transfers_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    payouts_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    details_submitted: Mapped[bool] = mapped_column(Boolean, default=False)


class LocalPaymentObject(Timestamps, Base):
    """An object of the local payments simulator (intent, refund, transfer, account)."""

    __tablename__ = "local_payment_objects"
    __table_args__ = (
        CheckConstraint("kind IN ('intent', 'refund', 'transfer', 'account')", name="kind"),
        Index("ix_local_payment_objects_group", "kind", "transfer_group"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    transfer_group: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)

"""Purchase tables: the order with its escrow state, and its line items."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from taskgo.db.base import Base, Timestamps, UUIDPrimaryKey
from taskgo.payments.failures import PaymentFailure


class PurchaseStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    RELEASED = "released"
    CANCELED = "canceled"
    REFUNDED = "refunded"
    # The card authorization lapsed before capture: no money came in, none goes out.
    PAYMENT_EXPIRED = "payment_expired"


class HoldReason(StrEnum):
    """Why the escrow of a paid purchase is not released yet."""

    AWAITING_SHIPMENT = "awaiting_shipment"
    AWAITING_DELIVERY = "awaiting_delivery"
    AWAITING_BUYER_CONFIRMATION = "awaiting_buyer_confirmation"
    DISPUTE = "dispute"
    SELLER_PAYOUT_ACCOUNT = "seller_payout_account_pending"
    SELLER_VERIFICATION = "seller_verification_pending"
    PAYOUT_RETRY = "payout_retry"


class DisputeStatus(StrEnum):
    OPEN = "open"
    RESOLVED_RELEASE = "resolved_release"
    RESOLVED_REFUND = "resolved_refund"


# Statuses in which money is held (captured or authorized) for the seller.
HELD_STATUSES = (PurchaseStatus.PAID, PurchaseStatus.SHIPPED, PurchaseStatus.DELIVERED)
FINAL_STATUSES = (
    PurchaseStatus.RELEASED,
    PurchaseStatus.CANCELED,
    PurchaseStatus.REFUNDED,
    PurchaseStatus.PAYMENT_EXPIRED,
)


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{value.value}'" for value in values)


class Purchase(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "purchases"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(PurchaseStatus)})", name="status"),
        CheckConstraint(
            f"hold_reason IS NULL OR hold_reason IN ({_in(HoldReason)})", name="hold_reason"
        ),
        CheckConstraint(
            f"dispute_status IS NULL OR dispute_status IN ({_in(DisputeStatus)})",
            name="dispute_status",
        ),
        CheckConstraint(
            f"payment_error_code IS NULL OR payment_error_code IN ({_in(PaymentFailure)})",
            name="payment_error_code",
        ),
        CheckConstraint("platform_fee_cents + escrow_cents = total_cents", name="fee_split"),
        CheckConstraint("platform_fee_cents >= 0 AND escrow_cents >= 0", name="amounts"),
        Index("ix_purchases_buyer_created", "buyer_id", "created_at", "id"),
        Index("ix_purchases_seller_created", "seller_id", "created_at", "id"),
        # The periodic jobs scan only unfinished purchases.
        Index(
            "ix_purchases_open_status",
            "status",
            postgresql_where=text("status IN ('pending_payment', 'paid', 'shipped', 'delivered')"),
        ),
    )

    buyer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    seller_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(24), default=PurchaseStatus.PENDING_PAYMENT)
    currency: Mapped[str] = mapped_column(String(3), default="brl")
    total_cents: Mapped[int] = mapped_column(BigInteger)
    platform_fee_cents: Mapped[int] = mapped_column(BigInteger)
    escrow_cents: Mapped[int] = mapped_column(BigInteger)
    fee_bps: Mapped[int] = mapped_column(Integer)

    # Payment: the provider's PaymentIntent and what it reported last.
    payment_provider: Mapped[str] = mapped_column(String(16))
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    client_secret: Mapped[str | None] = mapped_column(String(255))
    transfer_group: Mapped[str] = mapped_column(String(64))
    charge_id: Mapped[str | None] = mapped_column(String(255))
    payment_expires_at: Mapped[datetime | None] = mapped_column()
    # The reason the buyer's last payment attempt failed, or None once a payment succeeds.
    payment_error_code: Mapped[str | None] = mapped_column(String(40))
    # The provider's message, which the previous version stored and showed. Nothing writes it
    # now. It stays for that version's processes during a rolling deploy, and a later
    # migration drops it.
    legacy_payment_error: Mapped[str | None] = mapped_column(
        "payment_error", String(500), deferred=True
    )
    authorized_at: Mapped[datetime | None] = mapped_column()
    capture_before: Mapped[datetime | None] = mapped_column()
    captured_at: Mapped[datetime | None] = mapped_column()
    captured_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    transfer_id: Mapped[str | None] = mapped_column(String(255))

    # Lifecycle timestamps.
    paid_at: Mapped[datetime | None] = mapped_column()
    ship_by: Mapped[datetime | None] = mapped_column()
    shipped_at: Mapped[datetime | None] = mapped_column()
    tracking_code: Mapped[str | None] = mapped_column(String(13))
    carrier_delivered_at: Mapped[datetime | None] = mapped_column()
    buyer_confirmed_at: Mapped[datetime | None] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column()
    release_at: Mapped[datetime | None] = mapped_column()
    released_at: Mapped[datetime | None] = mapped_column()
    canceled_at: Mapped[datetime | None] = mapped_column()
    cancel_reason: Mapped[str | None] = mapped_column(String(32))
    refunded_at: Mapped[datetime | None] = mapped_column()
    hold_reason: Mapped[str | None] = mapped_column(String(40))

    # Disputes: opened by the buyer in the app, or a card chargeback reported by the provider.
    dispute_status: Mapped[str | None] = mapped_column(String(24))
    dispute_reason: Mapped[str | None] = mapped_column(Text)
    disputed_at: Mapped[datetime | None] = mapped_column()
    provider_dispute_id: Mapped[str | None] = mapped_column(String(255))

    items: Mapped[list[PurchaseItem]] = relationship(
        back_populates="purchase", lazy="selectin", order_by="PurchaseItem.position"
    )


class PurchaseItem(UUIDPrimaryKey, Base):
    """A product line, with the title and price copied at purchase time."""

    __tablename__ = "purchase_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("unit_price_cents > 0", name="unit_price"),
        CheckConstraint("subtotal_cents = unit_price_cents * quantity", name="subtotal"),
    )

    purchase_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("purchases.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="RESTRICT"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer)
    subtotal_cents: Mapped[int] = mapped_column(BigInteger)

    purchase: Mapped[Purchase] = relationship(back_populates="items")

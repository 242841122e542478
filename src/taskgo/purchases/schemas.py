"""Request and response bodies of the purchase routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from taskgo.i18n import translate
from taskgo.money import MoneyOut
from taskgo.payments.failures import PaymentFailure
from taskgo.products.schemas import reject_bool
from taskgo.purchases.models import Purchase, PurchaseStatus
from taskgo.schemas import MULTILINE_TEXT, ApiModel


class PurchaseItemIn(ApiModel):
    product_id: uuid.UUID
    quantity: Annotated[int, BeforeValidator(reject_bool)] = Field(ge=1, le=100)


class PurchaseCreateIn(ApiModel):
    items: list[PurchaseItemIn] = Field(min_length=1, max_length=20)


class ShipIn(ApiModel):
    tracking_code: str = Field(min_length=1, max_length=64)


class DisputeIn(ApiModel):
    reason: Annotated[str, Field(min_length=5, max_length=2000), MULTILINE_TEXT]


class ResolveDisputeIn(ApiModel):
    outcome: Literal["release", "refund"]
    note: str = Field(default="", max_length=2000)


class PurchaseItemOut(ApiModel):
    product_id: uuid.UUID
    title: str
    unit_price: MoneyOut
    quantity: int
    subtotal: MoneyOut


class DisputeOut(ApiModel):
    status: str
    reason: str | None
    opened_at: datetime | None
    chargeback: bool


class PurchaseOut(ApiModel):
    id: uuid.UUID
    status: str
    buyer_id: uuid.UUID
    seller_id: uuid.UUID
    items: list[PurchaseItemOut]
    currency: str
    total: MoneyOut
    platform_fee: MoneyOut
    escrow_amount: MoneyOut
    refunded_amount: MoneyOut
    client_secret: str | None
    payment_error_code: PaymentFailure | None = Field(
        description="Why the last payment attempt failed, such as `payments.card_declined`. "
        "It is null before any failure and after a successful payment."
    )
    payment_error: str | None = Field(
        description="The text of `paymentErrorCode` in the language of Accept-Language."
    )
    payment_expires_at: datetime | None
    tracking_code: str | None
    hold_reason: str | None
    release_at: datetime | None
    ship_by: datetime | None
    paid_at: datetime | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    buyer_confirmed_at: datetime | None
    released_at: datetime | None
    canceled_at: datetime | None
    cancel_reason: str | None
    dispute: DisputeOut | None
    created_at: datetime
    updated_at: datetime


def purchase_out(purchase: Purchase, *, viewer_id: uuid.UUID) -> PurchaseOut:
    """Render `purchase` for one of its participants; only the buyer sees the client secret."""
    awaiting_payment = purchase.status == PurchaseStatus.PENDING_PAYMENT
    failure = (
        None if purchase.payment_error_code is None else PaymentFailure(purchase.payment_error_code)
    )
    dispute = None
    if purchase.dispute_status is not None or purchase.provider_dispute_id is not None:
        dispute = DisputeOut(
            status=purchase.dispute_status or "open",
            reason=purchase.dispute_reason,
            opened_at=purchase.disputed_at,
            chargeback=purchase.provider_dispute_id is not None,
        )
    return PurchaseOut(
        id=purchase.id,
        status=purchase.status,
        buyer_id=purchase.buyer_id,
        seller_id=purchase.seller_id,
        items=[
            PurchaseItemOut(
                product_id=item.product_id,
                title=item.title,
                unit_price=item.unit_price_cents,
                quantity=item.quantity,
                subtotal=item.subtotal_cents,
            )
            for item in purchase.items
        ],
        currency=purchase.currency.upper(),
        total=purchase.total_cents,
        platform_fee=purchase.platform_fee_cents,
        escrow_amount=purchase.escrow_cents,
        refunded_amount=purchase.refunded_cents,
        client_secret=(
            purchase.client_secret if awaiting_payment and viewer_id == purchase.buyer_id else None
        ),
        payment_error_code=failure,
        payment_error=None if failure is None else translate(failure.value),
        payment_expires_at=purchase.payment_expires_at if awaiting_payment else None,
        tracking_code=purchase.tracking_code,
        hold_reason=purchase.hold_reason,
        release_at=purchase.release_at,
        ship_by=purchase.ship_by,
        paid_at=purchase.paid_at,
        shipped_at=purchase.shipped_at,
        delivered_at=purchase.delivered_at,
        buyer_confirmed_at=purchase.buyer_confirmed_at,
        released_at=purchase.released_at,
        canceled_at=purchase.canceled_at,
        cancel_reason=purchase.cancel_reason,
        dispute=dispute,
        created_at=purchase.created_at,
        updated_at=purchase.updated_at,
    )

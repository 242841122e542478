"""Lifecycle steps after payment: ship, delivery, cancel, disputes.

Each `do_*` function locks the purchase row first and is idempotent: repeating a step
that already happened returns the purchase unchanged. Money moves go through
`release.py`.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.admin.service import record_audit
from taskgo.config import get_settings
from taskgo.errors import AppError
from taskgo.i18n import Label
from taskgo.payments.provider import PaymentError, payments_unavailable
from taskgo.purchases import notify, release, stock
from taskgo.purchases.models import (
    HELD_STATUSES,
    DisputeStatus,
    HoldReason,
    Purchase,
    PurchaseStatus,
)
from taskgo.purchases.service import (
    chargeback_closed,
    get_purchase_for_participant,
    lock_purchase,
    now,
)
from taskgo.tracking.codes import normalize_tracking_code
from taskgo.users.models import User

log = structlog.get_logger(__name__)


def status_label(status: str) -> Label:
    """Return the purchase status as a translated message parameter."""
    return Label(f"purchase.status.{status}")


async def _lock_for(session: AsyncSession, *, purchase_id: uuid.UUID, user: User) -> Purchase:
    await get_purchase_for_participant(session, purchase_id=purchase_id, user=user)
    purchase = await lock_purchase(session, purchase_id)
    assert purchase is not None
    return purchase


def _unavailable(error: PaymentError | release.PaymentRetryLater) -> AppError:
    return payments_unavailable()


async def do_ship(
    session: AsyncSession, *, purchase_id: uuid.UUID, seller: User, tracking_code: str
) -> Purchase:
    code = normalize_tracking_code(tracking_code)
    purchase = await _lock_for(session, purchase_id=purchase_id, user=seller)
    if purchase.seller_id != seller.id:
        raise AppError("purchase.only_seller", status=403)
    if purchase.status == PurchaseStatus.SHIPPED:
        if purchase.tracking_code != code:
            # A mistyped code may be corrected until the parcel is delivered.
            purchase.tracking_code = code
            log.info("purchase.tracking_code_corrected", purchase_id=str(purchase.id))
            await notify.shipped(session, purchase)
            notify.announce(session, purchase)
        return purchase
    if purchase.status != PurchaseStatus.PAID:
        raise AppError(
            "purchase.cannot_ship", status=409, status_name=status_label(purchase.status)
        )

    purchase.status = PurchaseStatus.SHIPPED.value
    purchase.tracking_code = code
    purchase.shipped_at = now()
    if purchase.dispute_status != DisputeStatus.OPEN:
        purchase.hold_reason = HoldReason.AWAITING_DELIVERY.value
    log.info("purchase.shipped", purchase_id=str(purchase.id), seller_id=str(seller.id))
    await notify.shipped(session, purchase)
    notify.announce(session, purchase)
    return purchase


_SELLER_HOLDS = frozenset(
    {
        HoldReason.SELLER_PAYOUT_ACCOUNT.value,
        HoldReason.SELLER_VERIFICATION.value,
        HoldReason.PAYOUT_RETRY.value,
    }
)


async def do_confirm_delivery(
    session: AsyncSession, *, purchase_id: uuid.UUID, buyer: User
) -> Purchase:
    """The buyer received the goods: with the seller's shipment, both sides confirmed, so
    the escrow is released now unless a dispute is open."""
    purchase = await _lock_for(session, purchase_id=purchase_id, user=buyer)
    if purchase.buyer_id != buyer.id:
        raise AppError("purchase.only_buyer", status=403)
    if purchase.status == PurchaseStatus.RELEASED:
        return purchase
    if purchase.status not in (PurchaseStatus.SHIPPED, PurchaseStatus.DELIVERED):
        raise AppError(
            "purchase.cannot_confirm", status=409, status_name=status_label(purchase.status)
        )

    moment = now()
    if purchase.buyer_confirmed_at is None:
        purchase.buyer_confirmed_at = moment
        log.info("purchase.delivery_confirmed", purchase_id=str(purchase.id))
    purchase.delivered_at = purchase.delivered_at or moment
    purchase.status = PurchaseStatus.DELIVERED.value
    purchase.release_at = None
    if purchase.dispute_status == DisputeStatus.OPEN:
        notify.announce(session, purchase)
        return purchase
    # A hold on the seller's side stays: release_escrow notifies the seller only when the
    # reason changes, so a repeated confirmation must not clear it first.
    if purchase.hold_reason not in _SELLER_HOLDS:
        purchase.hold_reason = None
    try:
        released = await release.release_escrow(session, purchase)
    except PaymentError as error:
        raise _unavailable(error) from error
    if not released:
        notify.announce(session, purchase)
    return purchase


async def mark_delivered_by_carrier(
    session: AsyncSession, *, purchase_id: uuid.UUID, occurred_at: datetime
) -> Purchase | None:
    """Record the carrier's delivery and start the automatic release clock (idempotent)."""
    purchase = await lock_purchase(session, purchase_id)
    if purchase is None:
        return None
    if purchase.carrier_delivered_at is None and purchase.status in (
        PurchaseStatus.SHIPPED,
        PurchaseStatus.DELIVERED,
        PurchaseStatus.RELEASED,
    ):
        purchase.carrier_delivered_at = occurred_at
    if purchase.status != PurchaseStatus.SHIPPED:
        return purchase

    days = get_settings().purchase_auto_release_days
    purchase.status = PurchaseStatus.DELIVERED.value
    purchase.delivered_at = occurred_at
    purchase.release_at = max(occurred_at, now()) + timedelta(days=days)
    if purchase.dispute_status != DisputeStatus.OPEN:
        purchase.hold_reason = HoldReason.AWAITING_BUYER_CONFIRMATION.value
    log.info(
        "purchase.delivered_by_carrier",
        purchase_id=str(purchase.id),
        release_at=purchase.release_at.isoformat(),
    )
    await notify.delivered(session, purchase)
    notify.announce(session, purchase)
    return purchase


async def do_cancel(
    session: AsyncSession, *, purchase_id: uuid.UUID, user: User | None, reason: str
) -> Purchase:
    """Cancel before shipping: the buyer gets everything back and the stock returns.

    `user` is None when the system cancels (unpaid or not shipped in time).
    """
    if user is not None:
        purchase = await _lock_for(session, purchase_id=purchase_id, user=user)
    else:
        locked = await lock_purchase(session, purchase_id)
        assert locked is not None
        purchase = locked
    if purchase.status == PurchaseStatus.CANCELED:
        return purchase
    if purchase.status not in (PurchaseStatus.PENDING_PAYMENT, PurchaseStatus.PAID):
        raise AppError(
            "purchase.cannot_cancel", status=409, status_name=status_label(purchase.status)
        )
    if purchase.dispute_status == DisputeStatus.OPEN:
        # Stripe rejects refunds of a disputed charge, so the dispute decides where the money goes.
        raise AppError("purchase.dispute_open", status=409)

    try:
        refunded = await release.return_money(session, purchase, reason=reason)
    except PaymentError as error:
        if error.retryable:
            raise _unavailable(error) from error
        # A retry would fail the same way, so the purchase stays as it is for the team.
        log.error(
            "purchase.cancel_refund_failed",
            purchase_id=str(purchase.id),
            reason=error.reason,
            provider_code=error.provider_code,
        )
        raise AppError("payments.refund_failed", status=502) from error
    purchase.status = PurchaseStatus.CANCELED.value
    purchase.canceled_at = now()
    purchase.cancel_reason = reason
    purchase.hold_reason = None
    purchase.payment_expires_at = None
    # `return_money` booked the refund and set `refunded_cents` from the ledger.
    await stock.restore(session, items=purchase.items)
    log.info(
        "purchase.canceled",
        purchase_id=str(purchase.id),
        reason=reason,
        refunded=refunded,
        by=str(user.id) if user else "system",
    )
    await notify.canceled(session, purchase, by=user.id if user else None)
    notify.announce(session, purchase)
    return purchase


async def do_open_dispute(
    session: AsyncSession, *, purchase_id: uuid.UUID, buyer: User, reason: str
) -> Purchase:
    purchase = await _lock_for(session, purchase_id=purchase_id, user=buyer)
    if purchase.buyer_id != buyer.id:
        raise AppError("purchase.only_buyer", status=403)
    if purchase.dispute_status == DisputeStatus.OPEN:
        return purchase
    if purchase.status not in (PurchaseStatus.SHIPPED, PurchaseStatus.DELIVERED):
        raise AppError(
            "purchase.cannot_dispute", status=409, status_name=status_label(purchase.status)
        )
    freeze(purchase, reason=reason)
    await notify.dispute_opened(session, purchase)
    notify.announce(session, purchase)
    return purchase


def freeze(purchase: Purchase, *, reason: str | None) -> None:
    """Stop the release clock until an admin (or the card network) settles the dispute."""
    purchase.dispute_status = DisputeStatus.OPEN.value
    purchase.dispute_reason = reason
    purchase.disputed_at = now()
    purchase.hold_reason = HoldReason.DISPUTE.value
    purchase.release_at = None
    log.info("purchase.dispute_opened", purchase_id=str(purchase.id))


async def do_resolve_dispute(
    session: AsyncSession, *, purchase_id: uuid.UUID, admin: User, outcome: str, note: str
) -> Purchase:
    purchase = await lock_purchase(session, purchase_id)
    if purchase is None:
        raise AppError("purchase.not_found", status=404)
    if purchase.dispute_status != DisputeStatus.OPEN:
        raise AppError("purchase.no_open_dispute", status=409)
    if purchase.status not in HELD_STATUSES:
        # The money already left escrow or never came in (a refund made at the provider, a
        # lapsed authorization), so a release would reopen a closed purchase.
        raise AppError(
            "purchase.dispute_purchase_closed",
            status=409,
            status_name=status_label(purchase.status),
        )
    if purchase.provider_dispute_id is not None and not await chargeback_closed(
        session, purchase.provider_dispute_id
    ):
        # The card network decides a chargeback. Stripe rejects a refund of the disputed
        # charge, and a release would pay the seller before the decision. Once the
        # chargeback is closed, an admin resolves the buyer's own dispute.
        raise AppError("purchase.chargeback_open", status=409)

    try:
        if outcome == "release":
            purchase.dispute_status = DisputeStatus.RESOLVED_RELEASE.value
            purchase.status = PurchaseStatus.DELIVERED.value
            purchase.delivered_at = purchase.delivered_at or now()
            purchase.hold_reason = None
            await release.release_escrow(session, purchase)
        else:
            purchase.dispute_status = DisputeStatus.RESOLVED_REFUND.value
            await release.return_money(session, purchase, reason="dispute")
            purchase.status = PurchaseStatus.REFUNDED.value
            purchase.hold_reason = None
            purchase.release_at = None
            await notify.refunded(session, purchase)
            notify.announce(session, purchase)
    except (PaymentError, release.PaymentRetryLater) as error:
        raise _unavailable(error) from error
    await record_audit(
        session,
        actor_id=admin.id,
        action=f"purchase.dispute_{outcome}",
        target_type="purchase",
        target_id=str(purchase.id),
        details={"note": note},
    )
    log.info("purchase.dispute_resolved", purchase_id=str(purchase.id), outcome=outcome)
    return purchase

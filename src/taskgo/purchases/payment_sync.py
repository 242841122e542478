"""Bring a purchase in line with its PaymentIntent as the provider reports it now.

Webhooks, the dev confirm route and the periodic jobs all end here with a freshly read
intent, never with the event's copy, so duplicates and out-of-order events converge on
the same state. The caller holds the purchase row lock.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.config import get_settings
from taskgo.payments import provider as p
from taskgo.payments.failures import PaymentFailure
from taskgo.payments.provider import IntentSnapshot, PaymentError
from taskgo.payments.providers import get_payments
from taskgo.purchases import notify, release, stock
from taskgo.purchases.models import (
    FINAL_STATUSES,
    HELD_STATUSES,
    DisputeStatus,
    HoldReason,
    Purchase,
    PurchaseStatus,
)
from taskgo.purchases.service import now

log = structlog.get_logger(__name__)


async def sync_payment(session: AsyncSession, purchase: Purchase, intent: IntentSnapshot) -> None:
    if intent.id != purchase.payment_intent_id:
        raise ValueError(f"intent {intent.id} does not belong to purchase {purchase.id}")

    if purchase.status in FINAL_STATUSES:
        await _settle_late_payment(session, purchase, intent)
        return

    if purchase.status == PurchaseStatus.PENDING_PAYMENT:
        if intent.status in (p.REQUIRES_CAPTURE, p.SUCCEEDED):
            await _mark_paid(session, purchase, intent)
        elif intent.status == p.CANCELED:
            await _close_unpaid(session, purchase, reason="payment_canceled")
        elif intent.failure is not None:
            _record_failure(session, purchase, intent, intent.failure)
        return

    # Paid, shipped or delivered: money is authorized or held.
    if intent.captured:
        await release.record_capture(session, purchase, intent)
        if intent.refunded_amount > 0:
            # Compared with the ledger, not with `refunded_cents`, which also counts money
            # a lost chargeback returned.
            balances = await release.book_refunds(
                session,
                purchase,
                charge_id=str(intent.charge_id),
                refunded_total=intent.refunded_amount,
            )
            if balances.escrow_held == 0:
                await _close_refunded(session, purchase)
    elif intent.status == p.CANCELED:
        await payment_lost(session, purchase, intent)


async def _mark_paid(session: AsyncSession, purchase: Purchase, intent: IntentSnapshot) -> None:
    settings = get_settings()
    moment = now()
    purchase.status = PurchaseStatus.PAID.value
    purchase.paid_at = moment
    purchase.authorized_at = moment
    purchase.charge_id = intent.charge_id
    purchase.payment_error_code = None
    purchase.payment_expires_at = None
    # Without a reported deadline, assume the shortest common one (Visa merchant-initiated
    # holds last 5 days) so the capture job still runs in time.
    purchase.capture_before = intent.capture_before or moment + timedelta(
        hours=settings.payments_authorization_validity_hours
    )
    purchase.ship_by = moment + timedelta(days=settings.purchase_ship_within_days)
    purchase.hold_reason = HoldReason.AWAITING_SHIPMENT.value
    log.info(
        "purchase.paid",
        purchase_id=str(purchase.id),
        intent_id=intent.id,
        capture_before=purchase.capture_before.isoformat(),
    )

    if intent.captured:
        await release.record_capture(session, purchase, intent)
    elif settings.payments_capture_at_authorization:
        try:
            await release.capture_payment(session, purchase)
        except release.PaymentRetryLater:
            log.warning("purchase.capture_deferred", purchase_id=str(purchase.id))
        if purchase.status != PurchaseStatus.PAID:
            return
    await notify.new_order(session, purchase)
    notify.announce(session, purchase)


def _record_failure(
    session: AsyncSession, purchase: Purchase, intent: IntentSnapshot, failure: PaymentFailure
) -> None:
    """Store the stable code of a failed attempt while the purchase waits for payment.

    The provider's English message goes to the log only. Webhooks and the periodic jobs
    report the same failure again, so only a change is logged and announced.
    """
    if purchase.payment_error_code == failure:
        return
    purchase.payment_error_code = failure.value
    log.info(
        "purchase.payment_failed",
        purchase_id=str(purchase.id),
        intent_id=intent.id,
        failure=failure.value,
        provider_code=intent.failure_code,
        decline_code=intent.failure_decline_code,
        provider_message=(intent.failure_message or "")[:300],
    )
    notify.announce(session, purchase)


async def _close_refunded(session: AsyncSession, purchase: Purchase) -> None:
    """Everything held was refunded at the provider (from its dashboard, outside the app):
    nothing is left to release, so the purchase closes as refunded.

    Stock comes back only when the goods did not leave.
    """
    purchase.status = PurchaseStatus.REFUNDED.value
    purchase.hold_reason = None
    purchase.release_at = None
    if purchase.dispute_status == DisputeStatus.OPEN:
        # The refund settled the buyer's dispute, so no admin decision is left.
        purchase.dispute_status = DisputeStatus.RESOLVED_REFUND.value
    if purchase.shipped_at is None:
        await stock.restore(session, items=purchase.items)
    log.warning(
        "purchase.refunded_at_provider",
        purchase_id=str(purchase.id),
        amount=purchase.refunded_cents,
        shipped=purchase.shipped_at is not None,
    )
    await notify.refunded(session, purchase)
    notify.announce(session, purchase)


async def _close_unpaid(session: AsyncSession, purchase: Purchase, *, reason: str) -> None:
    purchase.status = PurchaseStatus.CANCELED.value
    purchase.canceled_at = now()
    purchase.cancel_reason = reason
    purchase.hold_reason = None
    purchase.payment_expires_at = None
    await stock.restore(session, items=purchase.items)
    log.info("purchase.canceled_unpaid", purchase_id=str(purchase.id), reason=reason)
    notify.announce(session, purchase)


async def payment_lost(session: AsyncSession, purchase: Purchase, intent: IntentSnapshot) -> None:
    """The authorization lapsed or was canceled before capture: nothing to hold or pay out.

    Both sides are notified. Stock comes back only when the goods did not leave.
    """
    if purchase.status not in HELD_STATUSES or intent.captured:
        return
    expired = intent.cancellation_reason == "automatic"
    purchase.status = (
        PurchaseStatus.PAYMENT_EXPIRED.value if expired else PurchaseStatus.CANCELED.value
    )
    purchase.cancel_reason = "authorization_expired" if expired else "payment_canceled"
    purchase.canceled_at = now()
    purchase.hold_reason = None
    purchase.release_at = None
    if purchase.shipped_at is None:
        await stock.restore(session, items=purchase.items)
    log.error(
        "escrow.authorization_lost",
        purchase_id=str(purchase.id),
        intent_id=intent.id,
        reason=intent.cancellation_reason,
        shipped=purchase.shipped_at is not None,
    )
    await notify.payment_expired(session, purchase)
    notify.announce(session, purchase)


async def _settle_late_payment(
    session: AsyncSession, purchase: Purchase, intent: IntentSnapshot
) -> None:
    """A payment that lands on a purchase already closed is given back to the buyer."""
    if purchase.status == PurchaseStatus.RELEASED:
        if intent.refunded_amount > 0:
            await release.book_refunds(
                session,
                purchase,
                charge_id=str(intent.charge_id),
                refunded_total=intent.refunded_amount,
            )
        return
    payments = get_payments()
    try:
        if intent.status == p.REQUIRES_CAPTURE:
            await payments.cancel_intent(
                intent.id, idempotency_key=f"purchase:{purchase.id}:cancel-late"
            )
            log.warning("purchase.late_authorization_released", purchase_id=str(purchase.id))
        elif intent.captured:
            await release.record_capture(session, purchase, intent)
            refunded = await release.return_money(session, purchase, reason="purchase_closed")
            log.warning(
                "purchase.late_capture_refunded", purchase_id=str(purchase.id), amount=refunded
            )
    except PaymentError as error:
        if error.retryable:
            raise release.PaymentRetryLater(error.message) from error
        raise

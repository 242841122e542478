"""Purchase jobs: capture before authorizations lapse, automatic release, and the
automatic cancels of unpaid and unshipped purchases.

Each periodic task selects due purchase ids, then handles each one in its own
transaction under the purchase's row lock, so one failure does not undo the others and
two workers never act on the same purchase at once. Every step is idempotent, so a
retried job repeats nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import procrastinate
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.config import get_settings
from taskgo.db.session import session_scope
from taskgo.errors import AppError
from taskgo.jobs import app
from taskgo.payments.provider import PaymentError
from taskgo.payments.providers import get_payments
from taskgo.purchases import release, transitions
from taskgo.purchases.models import (
    HELD_STATUSES,
    DisputeStatus,
    HoldReason,
    Purchase,
    PurchaseStatus,
)
from taskgo.purchases.payment_sync import sync_payment
from taskgo.purchases.service import lock_purchase, now

log = structlog.get_logger(__name__)

_RETRY = procrastinate.RetryStrategy(max_attempts=5, exponential_wait=2)

Step = Callable[[AsyncSession, Purchase], Awaitable[None]]


async def _each(ids: list[uuid.UUID], step: Step, *, job: str) -> int:
    """Run `step` on each purchase in its own transaction; return how many succeeded."""
    done = 0
    for purchase_id in ids:
        try:
            async with session_scope() as session:
                purchase = await lock_purchase(session, purchase_id)
                if purchase is not None:
                    await step(session, purchase)
            done += 1
        except (PaymentError, release.PaymentRetryLater, AppError) as error:
            log.warning(f"{job}.failed", purchase_id=str(purchase_id), error=str(error))
    if ids:
        log.info(f"{job}.ran", due=len(ids), done=done)
    return done


async def _due(query: object) -> list[uuid.UUID]:
    async with session_scope() as session:
        return list((await session.scalars(query)).all())  # type: ignore[call-overload]


# -- capture before the authorization lapses --------------------------------------------


async def _capture(session: AsyncSession, purchase: Purchase) -> None:
    if purchase.status in HELD_STATUSES and purchase.captured_at is None:
        await release.capture_payment(session, purchase)


@app.periodic(cron="*/10 * * * *")
@app.task(name="purchases.capture_due", queue="default", retry=_RETRY)
async def capture_due(timestamp: int) -> int:
    margin = timedelta(hours=get_settings().payments_capture_margin_hours)
    ids = await _due(
        select(Purchase.id).where(
            Purchase.status.in_([s.value for s in HELD_STATUSES]),
            Purchase.captured_at.is_(None),
            Purchase.capture_before <= now() + margin,
        )
    )
    return await _each(ids, _capture, job="purchases.capture_due")


# -- automatic release -------------------------------------------------------------------


async def _release(session: AsyncSession, purchase: Purchase) -> None:
    if (
        purchase.status == PurchaseStatus.DELIVERED
        and purchase.dispute_status != DisputeStatus.OPEN
    ):
        await release.release_escrow(session, purchase)


@app.periodic(cron="*/10 * * * *")
@app.task(name="purchases.release_due", queue="default", retry=_RETRY)
async def release_due(timestamp: int) -> int:
    """Release what is due: the buyer did not confirm in time, a payout failed, or the
    seller's side became ready and the job queued for it was lost."""
    ids = await _due(
        select(Purchase.id).where(
            Purchase.status == PurchaseStatus.DELIVERED.value,
            Purchase.release_at <= now(),
            Purchase.hold_reason == HoldReason.AWAITING_BUYER_CONFIRMATION.value,
        )
    )
    retries = await _due(
        select(Purchase.id).where(
            Purchase.status == PurchaseStatus.DELIVERED.value,
            Purchase.hold_reason == HoldReason.PAYOUT_RETRY.value,
        )
    )
    lifted = await _due(release.lifted_seller_holds())
    return await _each(ids + retries + lifted, _release, job="purchases.release_due")


@app.task(name="purchases.release_one", queue="default", retry=_RETRY)
async def release_one(purchase_id: str) -> int:
    return await _each([uuid.UUID(purchase_id)], _release, job="purchases.release_one")


# -- automatic cancels -------------------------------------------------------------------


async def _cancel_unshipped(session: AsyncSession, purchase: Purchase) -> None:
    if purchase.dispute_status == DisputeStatus.OPEN:
        return
    if purchase.status == PurchaseStatus.PAID and purchase.ship_by and purchase.ship_by <= now():
        await transitions.do_cancel(
            session, purchase_id=purchase.id, user=None, reason="not_shipped_in_time"
        )


@app.periodic(cron="*/15 * * * *")
@app.task(name="purchases.cancel_unshipped", queue="default", retry=_RETRY)
async def cancel_unshipped(timestamp: int) -> int:
    ids = await _due(
        select(Purchase.id).where(
            Purchase.status == PurchaseStatus.PAID.value, Purchase.ship_by <= now()
        )
    )
    return await _each(ids, _cancel_unshipped, job="purchases.cancel_unshipped")


async def _expire_unpaid(session: AsyncSession, purchase: Purchase) -> None:
    if purchase.status != PurchaseStatus.PENDING_PAYMENT or purchase.payment_intent_id is None:
        return
    if purchase.payment_expires_at is None or purchase.payment_expires_at > now():
        return
    # The buyer may have paid just now and the webhook is still on its way.
    intent = await get_payments().retrieve_intent(purchase.payment_intent_id)
    await sync_payment(session, purchase, intent)
    if purchase.status == PurchaseStatus.PENDING_PAYMENT:
        await transitions.do_cancel(
            session, purchase_id=purchase.id, user=None, reason="payment_timeout"
        )


@app.periodic(cron="*/5 * * * *")
@app.task(name="purchases.expire_unpaid", queue="default", retry=_RETRY)
async def expire_unpaid(timestamp: int) -> int:
    ids = await _due(
        select(Purchase.id).where(
            Purchase.status == PurchaseStatus.PENDING_PAYMENT.value,
            Purchase.payment_expires_at <= now(),
        )
    )
    return await _each(ids, _expire_unpaid, job="purchases.expire_unpaid")


@app.task(name="purchases.expire_unpaid_one", queue="default", retry=_RETRY)
async def expire_unpaid_one(purchase_id: str) -> int:
    return await _each([uuid.UUID(purchase_id)], _expire_unpaid, job="purchases.expire_unpaid")

"""Handling of verified provider events.

Each event id is handled once: its row in `payment_webhook_events` is inserted in the
same transaction as its effects, so a failed handling rolls both back and the provider's
retry runs it again, while a duplicate delivered later finds the row and does nothing.
Handlers re-read the PaymentIntent (or account) from the provider instead of trusting
the event's copy, so the order in which events arrive does not matter.
"""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.payments import escrow, ledger_store
from taskgo.payments.connect import refresh_account
from taskgo.payments.models import PaymentAccount, ProcessedWebhookEvent
from taskgo.payments.provider import PaymentError, WebhookEvent, payments_unavailable
from taskgo.payments.providers import get_payments
from taskgo.purchases import notify, release, stock, transitions
from taskgo.purchases.models import (
    HELD_STATUSES,
    DisputeStatus,
    HoldReason,
    Purchase,
    PurchaseStatus,
)
from taskgo.purchases.payment_sync import sync_payment
from taskgo.purchases.service import chargeback_closed, lock_purchase, lock_purchase_by_intent

log = structlog.get_logger(__name__)

_INTENT_EVENTS = {
    "payment_intent.amount_capturable_updated",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "payment_intent.processing",
    "charge.succeeded",
    "charge.captured",
    "charge.refunded",
    "charge.expired",
}


async def handle_event(session: AsyncSession, event: WebhookEvent, *, provider: str) -> str:
    """Apply `event` once; return `processed`, `duplicate` or `ignored`."""
    claimed = await session.scalar(
        insert(ProcessedWebhookEvent)
        .values(
            event_id=event.id,
            provider=provider,
            event_type=event.type[:64],
            object_id=str(event.object.get("id") or "")[:255] or None,
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(ProcessedWebhookEvent.event_id)
    )
    if claimed is None:
        log.info("payments.webhook_duplicate", event_id=event.id, type=event.type)
        return "duplicate"

    try:
        if event.type in _INTENT_EVENTS:
            outcome = await _intent_event(session, event)
        elif event.type == "charge.dispute.created":
            outcome = await _dispute_created(session, event)
        elif event.type == "charge.dispute.closed":
            outcome = await _dispute_closed(session, event)
        elif event.type.startswith("transfer."):
            outcome = await _transfer_event(session, event)
        elif event.type == "account.updated":
            outcome = await _account_updated(session, event)
        else:
            outcome = "ignored"
    except (PaymentError, release.PaymentRetryLater) as error:
        log.warning("payments.webhook_retry", event_id=event.id, type=event.type, error=str(error))
        raise payments_unavailable() from error
    log.info("payments.webhook_handled", event_id=event.id, type=event.type, outcome=outcome)
    return outcome


async def _purchase_for(session: AsyncSession, event: WebhookEvent) -> Purchase | None:
    intent_id = event.intent_id
    purchase = await lock_purchase_by_intent(session, intent_id) if intent_id else None
    if purchase is None:
        log.info("payments.webhook_unknown_intent", event_id=event.id, intent_id=intent_id)
    return purchase


async def _intent_event(session: AsyncSession, event: WebhookEvent) -> str:
    purchase = await _purchase_for(session, event)
    if purchase is None or purchase.payment_intent_id is None:
        return "ignored"
    intent = await get_payments().retrieve_intent(purchase.payment_intent_id)
    await sync_payment(session, purchase, intent)
    return "processed"


async def _dispute_created(session: AsyncSession, event: WebhookEvent) -> str:
    purchase = await _purchase_for(session, event)
    if purchase is None:
        return "ignored"
    dispute_id = str(event.object.get("id"))
    purchase.provider_dispute_id = dispute_id
    if await chargeback_closed(session, dispute_id):
        # This event arrived after the dispute's `closed` event, which already applied the
        # outcome, so a hold now would never be lifted.
        log.info("payments.dispute_created_after_close", purchase_id=str(purchase.id))
    elif purchase.status in HELD_STATUSES and purchase.dispute_status != DisputeStatus.OPEN:
        transitions.freeze(purchase, reason=f"chargeback: {event.object.get('reason') or ''}")
        await notify.dispute_opened(session, purchase)
        notify.announce(session, purchase)
    elif purchase.status == PurchaseStatus.RELEASED:
        log.error(
            "escrow.chargeback_after_release", purchase_id=str(purchase.id), dispute_id=dispute_id
        )
    return "processed"


async def _dispute_closed(session: AsyncSession, event: WebhookEvent) -> str:
    purchase = await _purchase_for(session, event)
    if purchase is None:
        return "ignored"
    dispute_id = str(event.object.get("id"))
    if event.object.get("status") == "lost":
        amount = int(str(event.object.get("amount") or 0))
        balances = await ledger_store.load_balances(session, purchase.id)
        balances = await ledger_store.post(
            session,
            purchase_id=purchase.id,
            transactions=escrow.returned_transactions(
                source="dispute", source_id=dispute_id, amount=amount, current=balances
            ),
        )
        # The dispute's amount adds to refunds made before it; the ledger counts each once.
        release.record_returned(purchase, balances)
        if purchase.status not in (PurchaseStatus.RELEASED, PurchaseStatus.REFUNDED):
            if purchase.status in HELD_STATUSES and purchase.shipped_at is None:
                await stock.restore(session, items=purchase.items)
            purchase.status = PurchaseStatus.REFUNDED.value
            purchase.hold_reason = None
            purchase.dispute_status = DisputeStatus.RESOLVED_REFUND.value
            await notify.refunded(session, purchase)
            notify.announce(session, purchase)
        return "processed"

    # A won chargeback lifts only the hold it caused; a dispute the buyer opened in the app
    # stays for an admin to decide.
    chargeback_hold = (purchase.dispute_reason or "").startswith("chargeback:")
    if (
        purchase.dispute_status == DisputeStatus.OPEN
        and purchase.provider_dispute_id == dispute_id
        and chargeback_hold
    ):
        purchase.dispute_status = DisputeStatus.RESOLVED_RELEASE.value
        purchase.hold_reason = {
            PurchaseStatus.PAID: HoldReason.AWAITING_SHIPMENT.value,
            PurchaseStatus.SHIPPED: HoldReason.AWAITING_DELIVERY.value,
        }.get(PurchaseStatus(purchase.status))
        if purchase.status == PurchaseStatus.DELIVERED:
            await release.release_escrow(session, purchase)
        else:
            notify.announce(session, purchase)
    return "processed"


async def _transfer_event(session: AsyncSession, event: WebhookEvent) -> str:
    metadata = event.object.get("metadata")
    raw_id = metadata.get("purchase_id") if isinstance(metadata, dict) else None
    try:
        purchase_id = uuid.UUID(str(raw_id))
    except ValueError:
        return "ignored"
    purchase = await lock_purchase(session, purchase_id)
    if purchase is None:
        return "ignored"
    if event.type == "transfer.reversed":
        log.error(
            "escrow.transfer_reversed",
            purchase_id=str(purchase.id),
            transfer_id=event.object.get("id"),
        )
    elif purchase.status == PurchaseStatus.DELIVERED and purchase.transfer_id is None:
        # The transfer exists but its commit here was lost: finish the release with it.
        await release.release_escrow(session, purchase)
    return "processed"


async def _account_updated(session: AsyncSession, event: WebhookEvent) -> str:
    account_id = str(event.object.get("id"))
    account = await session.scalar(
        select(PaymentAccount).where(PaymentAccount.account_id == account_id).with_for_update()
    )
    if account is None:
        return "ignored"
    await refresh_account(session, account)
    return "processed"

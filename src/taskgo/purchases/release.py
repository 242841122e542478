"""Money moves of a purchase: capture, release (fee and transfer) and refunds.

Every function here runs with the purchase row locked by the caller, calls the provider
with an idempotency key derived from the purchase id, and books the result in the
ledger under keys derived from the provider's object ids. A step that already happened
(at the provider or in the books) is recognised and not repeated.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import structlog
from sqlalchemy import ColumnElement, Select, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.jobs import enqueue
from taskgo.payments import escrow, ledger_store
from taskgo.payments import provider as p
from taskgo.payments.ledger import Balances
from taskgo.payments.models import PaymentAccount
from taskgo.payments.provider import IntentSnapshot, PaymentError
from taskgo.payments.providers import get_payments
from taskgo.purchases import notify
from taskgo.purchases.models import DisputeStatus, HoldReason, Purchase, PurchaseStatus
from taskgo.purchases.service import now
from taskgo.users.models import User, VerificationStatus

log = structlog.get_logger(__name__)


class PaymentRetryLater(Exception):
    """The provider is unreachable or rejected a payout; the step is safe to retry (jobs
    retry it)."""


async def record_capture(session: AsyncSession, purchase: Purchase, intent: IntentSnapshot) -> None:
    """Book money the provider reports as captured, once."""
    if not intent.captured or intent.charge_id is None:
        return
    balances = await ledger_store.load_balances(session, purchase.id)
    transactions = escrow.capture_transactions(
        charge_id=intent.charge_id, amount=intent.captured_amount, current=balances
    )
    await ledger_store.post(session, purchase_id=purchase.id, transactions=transactions)
    purchase.charge_id = intent.charge_id
    purchase.captured_cents = intent.captured_amount
    if purchase.captured_at is None:
        purchase.captured_at = now()
        log.info("escrow.captured", purchase_id=str(purchase.id), amount=intent.captured_amount)


async def capture_payment(session: AsyncSession, purchase: Purchase) -> bool:
    """Capture the authorization; return True once the money is held on the platform.

    Returns False when the authorization had already lapsed (the purchase then moves to
    `payment_expired`) or was canceled. Raises PaymentRetryLater when the provider is
    unreachable.
    """
    if purchase.captured_at is not None:
        return True
    assert purchase.payment_intent_id is not None
    payments = get_payments()
    try:
        intent = await payments.capture_intent(
            purchase.payment_intent_id, idempotency_key=f"purchase:{purchase.id}:capture"
        )
    except PaymentError as error:
        if error.retryable:
            raise PaymentRetryLater(error.message) from error
        if error.reason not in (p.REASON_AUTHORIZATION_EXPIRED, p.REASON_UNEXPECTED_STATE):
            raise
        # The intent moved on without us (captured by an earlier attempt, canceled or
        # expired): act on its current state.
        intent = await payments.retrieve_intent(purchase.payment_intent_id)
    if intent.captured:
        await record_capture(session, purchase, intent)
        return True

    from taskgo.purchases.payment_sync import payment_lost

    await payment_lost(session, purchase, intent)
    return False


async def _seller_account(session: AsyncSession, purchase: Purchase) -> PaymentAccount | None:
    account = await session.scalar(
        select(PaymentAccount).where(PaymentAccount.user_id == purchase.seller_id)
    )
    if account is None or not account.transfers_enabled:
        return None
    return account


# The two rules `_transfer` applies before paying a seller, as SQL on the purchase's seller.
def _seller_verified() -> ColumnElement[bool]:
    return exists().where(
        User.id == Purchase.seller_id,
        User.verification_status == VerificationStatus.VERIFIED.value,
    )


def _seller_account_ready() -> ColumnElement[bool]:
    return exists().where(
        PaymentAccount.user_id == Purchase.seller_id,
        PaymentAccount.transfers_enabled.is_(True),
    )


def lifted_seller_holds() -> Select[uuid.UUID]:
    """Select the delivered purchases whose hold on the seller's side no longer applies.

    These wait for the seller's identity check while the seller is verified now, or for
    a payout account while the account accepts transfers now. The approval and the
    account update queue a release job themselves, so this finds those whose job was
    lost. A release either pays the seller or records the reason that still applies, so
    a purchase comes back here only once that reason is gone too.
    """
    return select(Purchase.id).where(
        Purchase.status == PurchaseStatus.DELIVERED.value,
        or_(
            and_(
                Purchase.hold_reason == HoldReason.SELLER_VERIFICATION.value,
                _seller_verified(),
            ),
            and_(
                Purchase.hold_reason == HoldReason.SELLER_PAYOUT_ACCOUNT.value,
                _seller_account_ready(),
            ),
        ),
    )


async def release_escrow(session: AsyncSession, purchase: Purchase) -> bool:
    """Capture if needed, transfer the seller's part of the escrow and book fee and transfer.

    The seller receives the escrow amount less any refund made at the provider while the
    money was held (`escrow.release_amounts`). Returns True when the purchase is released.
    When the seller cannot receive transfers yet or the provider is unreachable, the
    purchase stays `delivered` with a hold reason and a job retries later. A purchase
    refunded in full at the provider is closed as `refunded` instead.
    """
    if purchase.status == PurchaseStatus.RELEASED:
        return True
    if purchase.status != PurchaseStatus.DELIVERED or purchase.dispute_status == DisputeStatus.OPEN:
        return False
    try:
        if not await capture_payment(session, purchase):
            return False
        await _sync_with_provider(session, purchase)
        if purchase.status != PurchaseStatus.DELIVERED:
            return False
        balances = await ledger_store.load_balances(session, purchase.id)
        fee, payout = escrow.release_amounts(
            purchase_id=str(purchase.id),
            fee_amount=purchase.platform_fee_cents,
            current=balances,
        )
        transfer_id = await _transfer(session, purchase, amount=payout)
    except PaymentRetryLater as error:
        purchase.hold_reason = HoldReason.PAYOUT_RETRY.value
        log.warning("escrow.release_deferred", purchase_id=str(purchase.id), error=str(error))
        await _schedule_retry(session, purchase)
        return False
    if transfer_id is None:
        return False

    await ledger_store.post(
        session,
        purchase_id=purchase.id,
        transactions=escrow.release_transactions(
            purchase_id=str(purchase.id),
            fee_amount=fee,
            escrow_amount=payout,
            transfer_id=transfer_id if payout > 0 else None,
            current=balances,
        ),
    )
    purchase.transfer_id = transfer_id if payout > 0 else None
    purchase.status = PurchaseStatus.RELEASED.value
    purchase.released_at = now()
    purchase.hold_reason = None
    purchase.release_at = None
    log.info(
        "escrow.released",
        purchase_id=str(purchase.id),
        seller_id=str(purchase.seller_id),
        amount=payout,
        fee=fee,
        refunded=purchase.refunded_cents,
        transfer_id=transfer_id,
    )
    if payout > 0:
        # With nothing left for the seller, the refund notices already informed both sides.
        await notify.released(session, purchase, amount=payout)
    notify.announce(session, purchase)
    return True


async def _sync_with_provider(session: AsyncSession, purchase: Purchase) -> None:
    """Read the payment again and book what changed at the provider, such as a refund
    made from its dashboard whose webhook has not arrived, before paying anyone."""
    from taskgo.purchases.payment_sync import sync_payment

    assert purchase.payment_intent_id is not None
    try:
        intent = await get_payments().retrieve_intent(purchase.payment_intent_id)
    except PaymentError as error:
        if error.retryable:
            raise PaymentRetryLater(error.message) from error
        raise
    await sync_payment(session, purchase, intent)


def _transfer_key(purchase: Purchase, amount: int) -> str:
    # Stripe keeps the first result under a key for at least a day, failures included, and
    # rejects the key with other parameters, so another amount (after a refund) needs its own.
    if amount == purchase.escrow_cents:
        return f"purchase:{purchase.id}:transfer"
    return f"purchase:{purchase.id}:transfer:{amount}"


async def _transfer(session: AsyncSession, purchase: Purchase, *, amount: int) -> str | None:
    """Make (or find) the transfer of `amount` to the seller; None when the seller cannot
    receive it."""
    if amount == 0:
        return "none"
    seller_status = await session.scalar(
        select(User.verification_status).where(User.id == purchase.seller_id)
    )
    if seller_status != VerificationStatus.VERIFIED:
        # Only partners whose identity an admin approved receive payouts.
        if purchase.hold_reason != HoldReason.SELLER_VERIFICATION:
            purchase.hold_reason = HoldReason.SELLER_VERIFICATION.value
            await notify.verification_needed(session, purchase, amount=amount)
        log.info("escrow.waiting_for_seller_verification", purchase_id=str(purchase.id))
        return None
    account = await _seller_account(session, purchase)
    if account is None:
        if purchase.hold_reason != HoldReason.SELLER_PAYOUT_ACCOUNT:
            purchase.hold_reason = HoldReason.SELLER_PAYOUT_ACCOUNT.value
            await notify.payout_account_needed(session, purchase, amount=amount)
        log.info("escrow.waiting_for_seller_account", purchase_id=str(purchase.id))
        return None

    payments = get_payments()
    try:
        # Idempotency keys expire after a day at Stripe, so an earlier transfer whose
        # commit was lost is looked up by its transfer group before sending a new one.
        for existing in await payments.list_transfers(transfer_group=purchase.transfer_group):
            if existing.amount == amount and existing.reversed_amount == 0:
                return existing.id
        transfer = await payments.create_transfer(
            amount=amount,
            currency=purchase.currency,
            destination=account.account_id,
            transfer_group=purchase.transfer_group,
            source_charge_id=purchase.charge_id,
            purchase_id=str(purchase.id),
            idempotency_key=_transfer_key(purchase, amount),
        )
    except PaymentError as error:
        if error.retryable:
            raise PaymentRetryLater(error.message) from error
        if error.reason == p.REASON_DESTINATION_NOT_READY:
            account.transfers_enabled = False
            purchase.hold_reason = HoldReason.SELLER_PAYOUT_ACCOUNT.value
            await notify.payout_account_needed(session, purchase, amount=amount)
            return None
        # Any other rejection (the platform balance, a blocked account) is for the team to
        # fix, so the buyer's confirmation is kept and the job retries. Raising would roll
        # the confirmation back behind a 503. Stripe replays a rejection under the same key
        # for 24 hours, so a retry succeeds only after that or once the amount changes.
        log.error(
            "escrow.transfer_rejected",
            purchase_id=str(purchase.id),
            amount=amount,
            reason=error.reason,
            error=error.message,
        )
        raise PaymentRetryLater(error.message) from error
    return transfer.id


async def queue_releases_after_verification(session: AsyncSession, *, seller_id: uuid.UUID) -> int:
    """Queue the releases that waited for the seller's identity check; return how many."""
    held = list(
        await session.scalars(
            select(Purchase.id).where(
                Purchase.seller_id == seller_id,
                Purchase.status == PurchaseStatus.DELIVERED.value,
                Purchase.hold_reason == HoldReason.SELLER_VERIFICATION.value,
            )
        )
    )
    for purchase_id in held:
        await enqueue(
            session,
            "purchases.release_one",
            purchase_id=str(purchase_id),
            queueing_lock=f"purchase-release:{purchase_id}",
        )
    return len(held)


async def _schedule_retry(session: AsyncSession, purchase: Purchase) -> None:
    await enqueue(
        session,
        "purchases.release_one",
        purchase_id=str(purchase.id),
        queueing_lock=f"purchase-release:{purchase.id}",
        scheduled_at=now() + timedelta(minutes=10),
    )


async def return_money(session: AsyncSession, purchase: Purchase, *, reason: str) -> int:
    """Give the buyer everything held: cancel an authorization, or refund a capture.

    Returns the centavos refunded (0 when only an authorization was released).
    """
    assert purchase.payment_intent_id is not None
    payments = get_payments()
    intent = await payments.retrieve_intent(purchase.payment_intent_id)
    if intent.status in (p.REQUIRES_PAYMENT_METHOD, p.REQUIRES_CAPTURE):
        await payments.cancel_intent(intent.id, idempotency_key=f"purchase:{purchase.id}:cancel")
        return 0
    if not intent.captured:
        return 0

    await record_capture(session, purchase, intent)
    refunded_total = intent.refunded_amount
    # A lost chargeback already gave the buyer its amount; refunding it too would pay twice.
    disputed = (await ledger_store.load_balances(session, purchase.id)).returned_by("dispute")
    remaining = intent.captured_amount - refunded_total - disputed
    if remaining > 0:
        refund = await payments.refund(
            intent_id=intent.id,
            amount=remaining,
            reason=reason,
            idempotency_key=f"purchase:{purchase.id}:refund",
        )
        refunded_total += refund.amount
    await book_refunds(
        session, purchase, charge_id=str(intent.charge_id), refunded_total=refunded_total
    )
    log.info("escrow.refunded", purchase_id=str(purchase.id), amount=refunded_total, reason=reason)
    return refunded_total


async def book_refunds(
    session: AsyncSession, purchase: Purchase, *, charge_id: str, refunded_total: int
) -> Balances:
    """Book the part of the provider's refunded total that the ledger does not have yet;
    return the balances after it.

    The key carries the running total, so the same total reported again (our own refund,
    then its `charge.refunded` webhook) books nothing the second time.
    """
    balances = await ledger_store.load_balances(session, purchase.id)
    missing = refunded_total - balances.returned_by("refund")
    if missing > 0:
        balances = await ledger_store.post(
            session,
            purchase_id=purchase.id,
            transactions=escrow.returned_transactions(
                source="refund",
                source_id=f"{charge_id}@{refunded_total}",
                amount=missing,
                current=balances,
            ),
        )
    record_returned(purchase, balances)
    return balances


def record_returned(purchase: Purchase, balances: Balances) -> None:
    """Set the purchase's refunded total to what the ledger shows the buyer got back:
    refunds and lost chargebacks, each booked once under its own key."""
    if balances.returned > purchase.refunded_cents:
        purchase.refunded_at = now()
    purchase.refunded_cents = balances.returned

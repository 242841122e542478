"""Partner onboarding on Stripe Connect: an Express account and its onboarding link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.config import get_settings
from taskgo.jobs import enqueue
from taskgo.payments.models import PaymentAccount
from taskgo.payments.provider import PaymentError, payments_unavailable
from taskgo.payments.providers import get_payments
from taskgo.purchases.models import HoldReason, Purchase
from taskgo.users.models import User

log = structlog.get_logger(__name__)

# First key of the two-key advisory lock on one partner's onboarding ("CONN").
_ONBOARDING_LOCK_NAMESPACE = 0x434F4E4E


@dataclass(frozen=True)
class Onboarding:
    account: PaymentAccount
    url: str | None
    expires_at: datetime | None


async def refresh_account(session: AsyncSession, account: PaymentAccount) -> bool:
    """Re-read the connected account; when it just became able to receive transfers, queue
    the releases that waited for it and return True."""
    remote = await get_payments().retrieve_connected_account(account.account_id)
    was_ready = account.transfers_enabled
    account.transfers_enabled = remote.transfers_enabled
    account.payouts_enabled = remote.payouts_enabled
    account.details_submitted = remote.details_submitted
    if not remote.transfers_enabled or was_ready:
        return False

    log.info("payments.account_ready", user_id=str(account.user_id))
    await _queue_held_releases(session, account)
    return True


async def _queue_held_releases(session: AsyncSession, account: PaymentAccount) -> int:
    """Queue the releases that waited for the seller's payout account; return how many."""
    purchase_ids = list(
        await session.scalars(
            select(Purchase.id).where(
                Purchase.seller_id == account.user_id,
                Purchase.hold_reason == HoldReason.SELLER_PAYOUT_ACCOUNT.value,
            )
        )
    )
    for purchase_id in purchase_ids:
        await enqueue(
            session,
            "purchases.release_one",
            purchase_id=str(purchase_id),
            queueing_lock=f"purchase-release:{purchase_id}",
        )
    return len(purchase_ids)


async def start_onboarding(session: AsyncSession, *, partner: User) -> Onboarding:
    """Create the partner's connected account once, and a fresh onboarding link if needed."""
    settings = get_settings()
    payments = get_payments()
    # FOR UPDATE locks nothing while the partner has no account yet, so two first requests
    # both inserted one and the second failed on the primary key. This lock serializes them.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:user_id))"),
        {"namespace": _ONBOARDING_LOCK_NAMESPACE, "user_id": str(partner.id)},
    )
    account = await session.scalar(
        select(PaymentAccount).where(PaymentAccount.user_id == partner.id).with_for_update()
    )
    try:
        if account is None:
            remote = await payments.create_connected_account(
                user_id=str(partner.id),
                email=partner.email,
                idempotency_key=f"user:{partner.id}:connected-account",
            )
            account = PaymentAccount(
                user_id=partner.id,
                provider=payments.name,
                account_id=remote.id,
                transfers_enabled=remote.transfers_enabled,
                payouts_enabled=remote.payouts_enabled,
                details_submitted=remote.details_submitted,
            )
            session.add(account)
            await session.flush()
            log.info("payments.account_created", user_id=str(partner.id))
            if account.transfers_enabled:
                # A provider that enables transfers at once (the local simulator, or an
                # account finished elsewhere) never reports the change that
                # refresh_account looks for, so the held releases are queued here.
                await _queue_held_releases(session, account)
        else:
            await refresh_account(session, account)
        if account.transfers_enabled and account.details_submitted:
            return Onboarding(account=account, url=None, expires_at=None)

        base = settings.public_base_url.rstrip("/")
        return_url = settings.connect_return_url or f"{base}/connect/return"
        link = await payments.create_onboarding_link(
            account_id=account.account_id,
            refresh_url=f"{base}/connect/refresh",
            return_url=return_url,
        )
    except PaymentError as error:
        log.warning("payments.onboarding_failed", user_id=str(partner.id), reason=error.reason)
        raise payments_unavailable() from error
    return Onboarding(account=account, url=link.url, expires_at=link.expires_at)


async def account_status(session: AsyncSession, *, partner: User) -> PaymentAccount | None:
    account = await session.scalar(
        select(PaymentAccount).where(PaymentAccount.user_id == partner.id).with_for_update()
    )
    if account is None:
        return None
    try:
        await refresh_account(session, account)
    except PaymentError as error:
        log.warning("payments.account_refresh_failed", user_id=str(partner.id), reason=error.reason)
    return account

"""HTTP routes of payments: the Stripe webhook, partner Connect onboarding and the dev
route that replaces the app's `confirmPayment` with the local provider."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import stripe
import structlog
from fastapi import APIRouter, Request

from taskgo.auth.deps import CurrentUser, PartnerUser
from taskgo.config import get_settings
from taskgo.db.session import DbSession
from taskgo.errors import AppError
from taskgo.payments import connect, webhooks
from taskgo.payments.local import LocalPayments
from taskgo.payments.provider import PaymentError
from taskgo.payments.providers import get_payments
from taskgo.purchases.payment_sync import sync_payment
from taskgo.purchases.schemas import PurchaseOut, purchase_out
from taskgo.purchases.service import get_purchase_for_participant, lock_purchase
from taskgo.schemas import ApiModel

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api", tags=["payments"])

# Stripe sends small JSON events; anything far larger is not one of them.
MAX_WEBHOOK_BYTES = 512 * 1024


class WebhookAck(ApiModel):
    received: bool
    outcome: str


class OnboardingOut(ApiModel):
    account_id: str
    transfers_enabled: bool
    payouts_enabled: bool
    details_submitted: bool
    onboarding_url: str | None = None
    expires_at: datetime | None = None


# `authorized`, or a card failure of the local simulator (local_declines.SIMULATED_DECLINES).
DevConfirmOutcome = Literal[
    "authorized",
    "declined",
    "insufficient_funds",
    "expired_card",
    "incorrect_cvc",
    "processing_error",
    "authentication_failed",
]


class DevConfirmIn(ApiModel):
    outcome: DevConfirmOutcome = "authorized"


@router.post("/webhooks/stripe", response_model=WebhookAck)
async def stripe_webhook(request: Request, session: DbSession) -> WebhookAck:
    payments = get_payments()
    if payments.name != "stripe":
        raise AppError("payments.webhooks_disabled", status=404)
    payload = await request.body()
    if len(payload) > MAX_WEBHOOK_BYTES:
        raise AppError("payments.invalid_webhook", status=400)
    try:
        # The signature covers the exact bytes sent, so the raw body is checked, never a
        # re-serialized copy.
        event = payments.parse_webhook(payload, request.headers.get("stripe-signature"))
    except stripe.SignatureVerificationError as error:
        log.warning("payments.webhook_bad_signature", error=str(error)[:200])
        raise AppError("payments.invalid_signature", status=400) from error
    except (ValueError, KeyError) as error:
        log.warning("payments.webhook_malformed", error=str(error)[:200])
        raise AppError("payments.invalid_webhook", status=400) from error
    outcome = await webhooks.handle_event(session, event, provider=payments.name)
    return WebhookAck(received=True, outcome=outcome)


def _onboarding_out(result: connect.Onboarding) -> OnboardingOut:
    return OnboardingOut(
        account_id=result.account.account_id,
        transfers_enabled=result.account.transfers_enabled,
        payouts_enabled=result.account.payouts_enabled,
        details_submitted=result.account.details_submitted,
        onboarding_url=result.url,
        expires_at=result.expires_at,
    )


@router.post("/payments/connect/onboarding", response_model=OnboardingOut)
async def start_onboarding(partner: PartnerUser, session: DbSession) -> OnboardingOut:
    """Create the partner's payout account and return the hosted onboarding link."""
    return _onboarding_out(await connect.start_onboarding(session, partner=partner))


@router.get("/payments/connect/status", response_model=OnboardingOut)
async def onboarding_status(partner: PartnerUser, session: DbSession) -> OnboardingOut:
    account = await connect.account_status(session, partner=partner)
    if account is None:
        raise AppError("payments.no_payout_account", status=404)
    return _onboarding_out(connect.Onboarding(account=account, url=None, expires_at=None))


@router.post("/dev/payments/{purchase_id}/confirm", response_model=PurchaseOut)
async def dev_confirm_payment(
    purchase_id: uuid.UUID,
    user: CurrentUser,
    session: DbSession,
    body: DevConfirmIn | None = None,
) -> PurchaseOut:
    """Authorize the buyer's card with the local simulator, as `confirmPayment` would.

    An `outcome` other than `authorized` makes the attempt fail the way that Stripe test card
    would, and the purchase then shows that `paymentErrorCode`.
    """
    payments = get_payments()
    if not (get_settings().dev_mode and isinstance(payments, LocalPayments)):
        raise AppError("payments.dev_route_disabled", status=404)
    purchase = await get_purchase_for_participant(session, purchase_id=purchase_id, user=user)
    if purchase.buyer_id != user.id:
        raise AppError("purchase.only_buyer", status=403)
    assert purchase.payment_intent_id is not None

    outcome = "authorized" if body is None else body.outcome
    decline = None if outcome == "authorized" else outcome
    try:
        await payments.confirm_intent(purchase.payment_intent_id, decline=decline)
    except PaymentError as error:
        if error.intent is None:
            raise
        log.info(
            "payments.dev_confirm_ignored", purchase_id=str(purchase_id), status=error.intent.status
        )
    locked = await lock_purchase(session, purchase_id)
    assert locked is not None
    intent = await payments.retrieve_intent(purchase.payment_intent_id)
    await sync_payment(session, locked, intent)
    await session.flush()
    await session.refresh(locked, attribute_names=["updated_at", "created_at"])
    return purchase_out(locked, viewer_id=user.id)

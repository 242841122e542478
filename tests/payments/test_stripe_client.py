"""The Stripe provider through the real SDK against the local Stripe stand-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import stripe

from taskgo.payments import provider as p
from taskgo.payments.client import StripePayments
from taskgo.payments.provider import PaymentError
from tests.standins.stripe_fixtures import app_confirms_payment
from tests.standins.stripe_server import Fault, StripeStandIn


async def _intent(
    payments: StripePayments, *, amount: int = 10_000, key: str = "k1"
) -> p.IntentSnapshot:
    return await payments.create_intent(
        amount=amount,
        currency="brl",
        purchase_id="pur-1",
        transfer_group="purchase_pur-1",
        capture_manually=True,
        description="TaskGo purchase pur-1",
        idempotency_key=key,
    )


async def _authorized(
    payments: StripePayments, standin: StripeStandIn, *, amount: int = 10_000
) -> p.IntentSnapshot:
    intent = await _intent(payments, amount=amount)
    assert intent.client_secret is not None
    await app_confirms_payment(standin, client_secret=intent.client_secret)
    return await payments.retrieve_intent(intent.id)


async def _onboarded_account(payments: StripePayments, standin: StripeStandIn) -> str:
    account = await payments.create_connected_account(
        user_id="seller-1", email="seller@example.com", idempotency_key="acct-seller-1"
    )
    standin.complete_onboarding(account.id)
    return account.id


async def test_create_intent_sends_purchase_fields(
    stripe_payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    intent = await _intent(stripe_payments)

    assert intent.status == p.REQUIRES_PAYMENT_METHOD
    assert intent.amount == 10_000
    assert intent.currency == "brl"
    assert intent.client_secret is not None and intent.client_secret.startswith(intent.id)
    [call] = stripe_standin.calls("POST", "/v1/payment_intents")
    assert call.idempotency_key == "k1"
    assert call.params["capture_method"] == "manual"
    assert call.params["metadata"] == {"purchase_id": "pur-1"}
    assert call.params["transfer_group"] == "purchase_pur-1"
    assert call.params["amount"] == "10000"


async def test_create_intent_same_key_replays(
    stripe_payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    first = await _intent(stripe_payments, key="same")
    second = await _intent(stripe_payments, key="same")

    assert first.id == second.id
    assert len(stripe_standin.world.payment_intents) == 1
    assert len(stripe_standin.calls("POST", "/v1/payment_intents", replayed=True)) == 1


async def test_same_key_other_params_rejected(stripe_payments: StripePayments) -> None:
    await _intent(stripe_payments, key="reused", amount=10_000)

    with pytest.raises(PaymentError) as caught:
        await _intent(stripe_payments, key="reused", amount=20_000)

    assert caught.value.reason == p.REASON_INVALID_REQUEST
    assert "same parameters" in caught.value.message


async def test_amount_below_minimum_rejected(stripe_payments: StripePayments) -> None:
    with pytest.raises(PaymentError) as caught:
        await _intent(stripe_payments, amount=49)

    assert caught.value.reason == p.REASON_INVALID_REQUEST
    assert caught.value.provider_code == "amount_too_small"


async def test_wrong_secret_key_is_configuration_error(stripe_standin: StripeStandIn) -> None:
    payments = StripePayments(
        secret_key="sk_test_wrong_key_000000000",  # noqa: S106
        webhook_secret=stripe_standin.webhook_secret,
        api_base=stripe_standin.base_url,
    )
    try:
        with pytest.raises(PaymentError) as caught:
            await _intent(payments)
    finally:
        await payments.aclose()

    assert caught.value.reason == p.REASON_CONFIGURATION
    assert stripe_standin.world.payment_intents == {}


async def test_authorize_then_capture(
    stripe_payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    authorized = await _authorized(stripe_payments, stripe_standin)

    assert authorized.status == p.REQUIRES_CAPTURE
    assert authorized.amount_capturable == 10_000
    assert authorized.charge_id is not None
    assert authorized.capture_before is not None
    expected = datetime.now(UTC) + timedelta(days=7)
    assert abs((authorized.capture_before - expected).total_seconds()) < 60

    captured = await stripe_payments.capture_intent(authorized.id, idempotency_key="cap-1")

    assert captured.status == p.SUCCEEDED
    assert captured.captured_amount == 10_000
    assert captured.refunded_amount == 0


async def test_capture_after_expiry_fails(
    stripe_payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    authorized = await _authorized(stripe_payments, stripe_standin)
    stripe_standin.advance_clock(7 * 86400 + 1)

    with pytest.raises(PaymentError) as caught:
        await stripe_payments.capture_intent(authorized.id, idempotency_key="cap-late")

    assert caught.value.reason == p.REASON_AUTHORIZATION_EXPIRED
    after = await stripe_payments.retrieve_intent(authorized.id)
    assert after.status == p.CANCELED
    assert after.cancellation_reason == "automatic"
    assert after.captured_amount == 0


async def test_capture_twice_reports_state(
    stripe_payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    authorized = await _authorized(stripe_payments, stripe_standin)
    await stripe_payments.capture_intent(authorized.id, idempotency_key="cap-a")

    with pytest.raises(PaymentError) as caught:
        await stripe_payments.capture_intent(authorized.id, idempotency_key="cap-b")

    assert caught.value.reason == p.REASON_UNEXPECTED_STATE
    assert caught.value.intent is not None
    assert caught.value.intent.status == p.SUCCEEDED


async def test_cancel_authorization_is_not_refund(
    stripe_payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    authorized = await _authorized(stripe_payments, stripe_standin)

    canceled = await stripe_payments.cancel_intent(authorized.id, idempotency_key="cancel-1")

    assert canceled.status == p.CANCELED
    assert canceled.captured_amount == 0
    assert canceled.refunded_amount == 0


async def test_refund_captured_payment(
    stripe_payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    authorized = await _authorized(stripe_payments, stripe_standin)
    await stripe_payments.capture_intent(authorized.id, idempotency_key="cap-1")

    refund = await stripe_payments.refund(
        intent_id=authorized.id, amount=10_000, reason="canceled", idempotency_key="ref-1"
    )

    assert refund.amount == 10_000
    after = await stripe_payments.retrieve_intent(authorized.id)
    assert after.refunded_amount == 10_000
    with pytest.raises(PaymentError) as caught:
        await stripe_payments.refund(
            intent_id=authorized.id, amount=1, reason="canceled", idempotency_key="ref-2"
        )
    assert caught.value.reason == p.REASON_ALREADY_REFUNDED


async def test_transfer_needs_onboarded_account(
    stripe_payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    authorized = await _authorized(stripe_payments, stripe_standin)
    await stripe_payments.capture_intent(authorized.id, idempotency_key="cap-1")
    account = await stripe_payments.create_connected_account(
        user_id="seller-1", email=None, idempotency_key="acct-1"
    )
    assert not account.transfers_enabled

    with pytest.raises(PaymentError) as caught:
        await stripe_payments.create_transfer(
            amount=9_500,
            currency="brl",
            destination=account.id,
            transfer_group="purchase_pur-1",
            source_charge_id=authorized.charge_id,
            purchase_id="pur-1",
            idempotency_key="tr-1",
        )

    assert caught.value.reason == p.REASON_DESTINATION_NOT_READY
    assert stripe_standin.world.transfers == {}


async def test_transfer_to_seller(
    stripe_payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    authorized = await _authorized(stripe_payments, stripe_standin)
    await stripe_payments.capture_intent(authorized.id, idempotency_key="cap-1")
    account_id = await _onboarded_account(stripe_payments, stripe_standin)

    transfer = await stripe_payments.create_transfer(
        amount=9_500,
        currency="brl",
        destination=account_id,
        transfer_group="purchase_pur-1",
        source_charge_id=authorized.charge_id,
        purchase_id="pur-1",
        idempotency_key="tr-1",
    )

    assert transfer.amount == 9_500
    assert transfer.destination == account_id
    listed = await stripe_payments.list_transfers(transfer_group="purchase_pur-1")
    assert [t.id for t in listed] == [transfer.id]
    assert await stripe_payments.list_transfers(transfer_group="purchase_other") == []


async def test_transfer_over_charge_rejected(
    stripe_payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    authorized = await _authorized(stripe_payments, stripe_standin)
    await stripe_payments.capture_intent(authorized.id, idempotency_key="cap-1")
    account_id = await _onboarded_account(stripe_payments, stripe_standin)

    with pytest.raises(PaymentError) as caught:
        await stripe_payments.create_transfer(
            amount=10_001,
            currency="brl",
            destination=account_id,
            transfer_group="purchase_pur-1",
            source_charge_id=authorized.charge_id,
            purchase_id="pur-1",
            idempotency_key="tr-1",
        )

    assert caught.value.reason == p.REASON_INSUFFICIENT_FUNDS


async def test_lost_response_retried_once_executed(
    stripe_payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    authorized = await _authorized(stripe_payments, stripe_standin)
    await stripe_payments.capture_intent(authorized.id, idempotency_key="cap-1")
    account_id = await _onboarded_account(stripe_payments, stripe_standin)
    stripe_standin.inject_fault(Fault("POST", "/v1/transfers", drop=True))

    transfer = await stripe_payments.create_transfer(
        amount=9_500,
        currency="brl",
        destination=account_id,
        transfer_group="purchase_pur-1",
        source_charge_id=authorized.charge_id,
        purchase_id="pur-1",
        idempotency_key="tr-1",
    )

    assert len(stripe_standin.world.transfers) == 1
    assert list(stripe_standin.world.transfers) == [transfer.id]
    calls = stripe_standin.calls("POST", "/v1/transfers")
    assert [c.replayed for c in calls] == [False, True]
    assert {c.idempotency_key for c in calls} == {"tr-1"}


async def test_server_error_retried(
    stripe_payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    stripe_standin.inject_fault(Fault("POST", "/v1/payment_intents", status=500))

    intent = await _intent(stripe_payments)

    assert intent.status == p.REQUIRES_PAYMENT_METHOD
    assert len(stripe_standin.world.payment_intents) == 1


async def test_unavailable_after_retries(
    stripe_payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    stripe_standin.inject_fault(Fault("POST", "/v1/payment_intents", status=503, remaining=3))

    with pytest.raises(PaymentError) as caught:
        await _intent(stripe_payments)

    assert caught.value.reason == p.REASON_UNAVAILABLE
    assert caught.value.retryable


async def test_onboarding_link_completes_account(
    stripe_payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    account = await stripe_payments.create_connected_account(
        user_id="seller-1", email="seller@example.com", idempotency_key="acct-1"
    )
    link = await stripe_payments.create_onboarding_link(
        account_id=account.id,
        refresh_url="https://app.taskgo.example/connect/refresh",
        return_url="https://app.taskgo.example/connect/done",
    )
    [call] = stripe_standin.calls("POST", "/v1/accounts")
    assert call.params["type"] == "express"
    assert call.params["country"] == "BR"
    assert call.params["capabilities"] == {"transfers": {"requested": "true"}}

    import httpx

    async with httpx.AsyncClient() as http:
        page = await http.get(link.url)
    assert page.status_code == 200
    after = await stripe_payments.retrieve_connected_account(account.id)
    assert after.transfers_enabled
    assert after.payouts_enabled
    [event] = stripe_standin.take_events("account.updated")
    assert event["data"]["object"]["id"] == account.id


async def test_onboarding_link_rejects_bad_url(stripe_payments: StripePayments) -> None:
    account = await stripe_payments.create_connected_account(
        user_id="seller-1", email=None, idempotency_key="acct-1"
    )

    with pytest.raises(PaymentError) as caught:
        await stripe_payments.create_onboarding_link(
            account_id=account.id, refresh_url="not a url", return_url="https://x.example/"
        )

    assert caught.value.provider_code == "url_invalid"


async def test_webhook_signature_checked(
    stripe_payments: StripePayments, stripe_standin: StripeStandIn
) -> None:
    await _authorized(stripe_payments, stripe_standin)
    [event] = stripe_standin.take_events("payment_intent.amount_capturable_updated")
    body, headers = stripe_standin.signed_request(event)

    parsed = stripe_payments.parse_webhook(body, headers["Stripe-Signature"])

    assert parsed.id == event["id"]
    assert parsed.type == "payment_intent.amount_capturable_updated"
    assert parsed.intent_id == event["data"]["object"]["id"]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe_payments.parse_webhook(body.replace(b"10000", b"10001"), headers["Stripe-Signature"])
    forged = stripe_standin.signature_header(body, secret="whsec_someone_else")  # noqa: S106
    with pytest.raises(stripe.SignatureVerificationError):
        stripe_payments.parse_webhook(body, forged)
    stale = stripe_standin.signature_header(
        body, timestamp=int(datetime.now(UTC).timestamp()) - 600
    )
    with pytest.raises(stripe.SignatureVerificationError):
        stripe_payments.parse_webhook(body, stale)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe_payments.parse_webhook(body, None)

"""Failed card payments: Stripe's error codes become one stable code per kind of failure."""

from __future__ import annotations

from typing import Any, get_args

import pytest
import stripe

from taskgo.payments.client import StripePayments
from taskgo.payments.failures import PaymentFailure, classify_failure
from taskgo.payments.local_declines import SIMULATED_DECLINES
from taskgo.payments.router import DevConfirmOutcome
from tests.standins.stripe_fixtures import app_confirms_payment
from tests.standins.stripe_server import StripeStandIn
from tests.standins.stripe_state import TEST_CARDS

# Each local simulator outcome and the Stripe test card whose failure it copies.
STANDIN_CARD_OF_OUTCOME = {
    "declined": "pm_card_chargeDeclined",
    "insufficient_funds": "pm_card_chargeDeclinedInsufficientFunds",
    "expired_card": "pm_card_chargeDeclinedExpiredCard",
    "incorrect_cvc": "pm_card_chargeDeclinedIncorrectCvc",
    "processing_error": "pm_card_chargeDeclinedProcessingError",
}


@pytest.mark.parametrize(
    ("code", "decline_code", "failure"),
    [
        ("card_declined", "generic_decline", PaymentFailure.CARD_DECLINED),
        ("card_declined", "do_not_honor", PaymentFailure.CARD_DECLINED),
        # Suspected fraud and lost or stolen cards are not revealed to the buyer.
        ("card_declined", "fraudulent", PaymentFailure.CARD_DECLINED),
        ("card_declined", "stolen_card", PaymentFailure.CARD_DECLINED),
        ("card_declined", "insufficient_funds", PaymentFailure.INSUFFICIENT_FUNDS),
        ("expired_card", "expired_card", PaymentFailure.EXPIRED_CARD),
        ("expired_card", None, PaymentFailure.EXPIRED_CARD),
        ("incorrect_cvc", "incorrect_cvc", PaymentFailure.INCORRECT_CVC),
        ("processing_error", "processing_error", PaymentFailure.PROCESSING_ERROR),
        ("card_declined", "processing_error", PaymentFailure.PROCESSING_ERROR),
        (
            "authentication_required",
            "authentication_required",
            PaymentFailure.AUTHENTICATION_REQUIRED,
        ),
        ("card_declined", "authentication_required", PaymentFailure.AUTHENTICATION_REQUIRED),
        ("payment_intent_authentication_failure", None, PaymentFailure.AUTHENTICATION_REQUIRED),
        ("incorrect_number", None, PaymentFailure.FAILED),
        ("payment_method_provider_decline", None, PaymentFailure.FAILED),
        (None, None, PaymentFailure.FAILED),
    ],
)
def test_classify_stripe_codes(
    code: str | None, decline_code: str | None, failure: PaymentFailure
) -> None:
    assert classify_failure(code=code, decline_code=decline_code) is failure


def _intent_with_error(error: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": "pi_1",
        "object": "payment_intent",
        "status": "requires_payment_method",
        "amount": 10_000,
        "currency": "brl",
        "last_payment_error": error,
    }


def test_snapshot_reads_last_payment_error() -> None:
    error = {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
    }

    intent = StripePayments._snapshot_dict(_intent_with_error(error), charge=None)

    assert intent.failure_code == "card_declined"
    assert intent.failure_decline_code == "insufficient_funds"
    assert intent.failure_message == "Your card has insufficient funds."
    assert intent.failure is PaymentFailure.INSUFFICIENT_FUNDS


def test_snapshot_without_error() -> None:
    intent = StripePayments._snapshot_dict(_intent_with_error(None), charge=None)

    assert intent.failure is None


def test_snapshot_error_without_codes() -> None:
    error = {"type": "api_error", "message": "An unknown error occurred."}

    intent = StripePayments._snapshot_dict(_intent_with_error(error), charge=None)

    assert intent.failure is PaymentFailure.FAILED


@pytest.mark.parametrize(
    ("payment_method", "failure"),
    [
        ("pm_card_chargeDeclined", PaymentFailure.CARD_DECLINED),
        ("pm_card_chargeDeclinedInsufficientFunds", PaymentFailure.INSUFFICIENT_FUNDS),
        ("pm_card_chargeDeclinedLostCard", PaymentFailure.CARD_DECLINED),
        ("pm_card_chargeDeclinedFraudulent", PaymentFailure.CARD_DECLINED),
        ("pm_card_chargeDeclinedExpiredCard", PaymentFailure.EXPIRED_CARD),
        ("pm_card_chargeDeclinedIncorrectCvc", PaymentFailure.INCORRECT_CVC),
        ("pm_card_chargeDeclinedProcessingError", PaymentFailure.PROCESSING_ERROR),
    ],
)
async def test_declined_intent_failure(
    stripe_payments: StripePayments,
    stripe_standin: StripeStandIn,
    payment_method: str,
    failure: PaymentFailure,
) -> None:
    created = await stripe_payments.create_intent(
        amount=10_000,
        currency="brl",
        purchase_id="pur-1",
        transfer_group="purchase_pur-1",
        capture_manually=True,
        description="TaskGo purchase pur-1",
        idempotency_key="k1",
    )
    assert created.failure is None
    assert created.client_secret is not None

    with pytest.raises(stripe.CardError):
        await app_confirms_payment(
            stripe_standin, client_secret=created.client_secret, payment_method=payment_method
        )
    intent = await stripe_payments.retrieve_intent(created.id)

    assert intent.status == "requires_payment_method"
    assert intent.failure is failure
    decline = TEST_CARDS[payment_method].decline
    assert decline is not None
    assert intent.failure_message == decline.message


def test_local_declines_match_stripe_cards() -> None:
    for outcome, payment_method in STANDIN_CARD_OF_OUTCOME.items():
        local = SIMULATED_DECLINES[outcome]
        stripe_decline = TEST_CARDS[payment_method].decline
        assert stripe_decline is not None
        assert local.code == stripe_decline.code, outcome
        assert local.decline_code == stripe_decline.decline_code, outcome
        assert local.message == stripe_decline.message, outcome


def test_dev_outcomes_cover_local_declines() -> None:
    assert set(get_args(DevConfirmOutcome)) == {"authorized", *SIMULATED_DECLINES}

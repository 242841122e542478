"""Card failures that the local payments simulator can produce, in Stripe's terms."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimulatedDecline:
    """The `last_payment_error` fields that Stripe sets when one of its test cards fails."""

    code: str
    decline_code: str | None
    message: str


# Outcomes the dev confirm route can ask for besides an authorization. Each one has the
# code and decline code that Stripe reports for the test card named beside it
# (docs.stripe.com/testing) and its English message, so the code that reads a failure gets
# the same values from both providers.
SIMULATED_DECLINES = {
    # pm_card_chargeDeclined
    "declined": SimulatedDecline("card_declined", "generic_decline", "Your card was declined."),
    # pm_card_chargeDeclinedInsufficientFunds
    "insufficient_funds": SimulatedDecline(
        "card_declined", "insufficient_funds", "Your card has insufficient funds."
    ),
    # pm_card_chargeDeclinedExpiredCard
    "expired_card": SimulatedDecline("expired_card", "expired_card", "Your card has expired."),
    # pm_card_chargeDeclinedIncorrectCvc
    "incorrect_cvc": SimulatedDecline(
        "incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."
    ),
    # pm_card_chargeDeclinedProcessingError
    "processing_error": SimulatedDecline(
        "processing_error",
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    # A 3D Secure card (pm_card_threeDSecure2Required) whose holder fails the bank's challenge.
    "authentication_failed": SimulatedDecline(
        "payment_intent_authentication_failure",
        None,
        "The provided PaymentMethod has failed authentication.",
    ),
}

"""Stable codes for a failed card payment, derived from the provider's error codes.

A purchase stores one of these codes and never the provider's text, which is English only.
Responses translate the code into the language of each request.
"""

from __future__ import annotations

from enum import StrEnum


class PaymentFailure(StrEnum):
    """The reason a buyer's payment attempt failed, as apps and the message catalogs name it."""

    CARD_DECLINED = "payments.card_declined"
    INSUFFICIENT_FUNDS = "payments.insufficient_funds"
    EXPIRED_CARD = "payments.expired_card"
    INCORRECT_CVC = "payments.incorrect_cvc"
    PROCESSING_ERROR = "payments.processing_error"
    AUTHENTICATION_REQUIRED = "payments.authentication_required"
    FAILED = "payments.failed"


# Stripe's `decline_code` values (docs.stripe.com/declines/codes) and error `code` values
# (docs.stripe.com/error-codes) that have a code of their own. Other decline codes, such as
# `generic_decline`, `do_not_honor`, `fraudulent`, `lost_card` or `stolen_card`, come with
# the error code `card_declined` and become a plain decline. Stripe advises not to reveal a
# suspected fraud or a card reported lost or stolen to the buyer.
_FAILURE_BY_PROVIDER_CODE = {
    "insufficient_funds": PaymentFailure.INSUFFICIENT_FUNDS,
    "expired_card": PaymentFailure.EXPIRED_CARD,
    "incorrect_cvc": PaymentFailure.INCORRECT_CVC,
    "invalid_cvc": PaymentFailure.INCORRECT_CVC,
    "processing_error": PaymentFailure.PROCESSING_ERROR,
    "authentication_required": PaymentFailure.AUTHENTICATION_REQUIRED,
    "payment_intent_authentication_failure": PaymentFailure.AUTHENTICATION_REQUIRED,
    "card_declined": PaymentFailure.CARD_DECLINED,
}


def classify_failure(*, code: str | None, decline_code: str | None) -> PaymentFailure:
    """Map a `last_payment_error`'s `code` and `decline_code` to a stable failure code.

    The decline code is the more precise of the two, so it wins when both are known.
    Anything unknown is `payments.failed`.
    """
    for provider_code in (decline_code, code):
        failure = _FAILURE_BY_PROVIDER_CODE.get(provider_code or "")
        if failure is not None:
            return failure
    return PaymentFailure.FAILED

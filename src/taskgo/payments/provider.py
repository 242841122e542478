"""The payments interface that the escrow logic programs against, and its value types.

Two providers implement it: `client.StripePayments` (the official SDK, separate charges
and transfers on Stripe Connect) and `local.LocalPayments` (a simulator with the same
lifecycle for development). Amounts are integer centavos; statuses are Stripe's
PaymentIntent statuses, which the local simulator reuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from taskgo.errors import AppError
from taskgo.payments.failures import PaymentFailure, classify_failure

# PaymentIntent statuses (Stripe's names).
REQUIRES_PAYMENT_METHOD = "requires_payment_method"
REQUIRES_CAPTURE = "requires_capture"
SUCCEEDED = "succeeded"
CANCELED = "canceled"
PROCESSING = "processing"


@dataclass(frozen=True)
class IntentSnapshot:
    """A PaymentIntent as the provider reports it now, with its latest charge folded in."""

    id: str
    status: str
    amount: int
    currency: str
    amount_capturable: int
    amount_received: int
    client_secret: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    transfer_group: str | None = None
    charge_id: str | None = None
    captured_amount: int = 0
    refunded_amount: int = 0
    capture_before: datetime | None = None
    cancellation_reason: str | None = None
    disputed: bool = False
    # The last failed payment attempt, as Stripe's `last_payment_error` reports it. The
    # message is the provider's English text, for logs only.
    failure_code: str | None = None
    failure_decline_code: str | None = None
    failure_message: str | None = None

    @property
    def authorized(self) -> bool:
        return self.status == REQUIRES_CAPTURE

    @property
    def captured(self) -> bool:
        return self.status == SUCCEEDED and self.captured_amount > 0

    @property
    def failure(self) -> PaymentFailure | None:
        """The stable code of the last failed payment attempt, or None when none failed."""
        if not (self.failure_code or self.failure_decline_code or self.failure_message):
            return None
        return classify_failure(code=self.failure_code, decline_code=self.failure_decline_code)


@dataclass(frozen=True)
class RefundResult:
    id: str
    amount: int
    status: str


@dataclass(frozen=True)
class TransferResult:
    id: str
    amount: int
    destination: str
    transfer_group: str | None
    reversed_amount: int = 0


@dataclass(frozen=True)
class ConnectedAccount:
    id: str
    transfers_enabled: bool
    payouts_enabled: bool
    details_submitted: bool


@dataclass(frozen=True)
class OnboardingLink:
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class WebhookEvent:
    """A verified provider event; `object` is the event's snapshot of the affected object."""

    id: str
    type: str
    object: dict[str, object]

    @property
    def intent_id(self) -> str | None:
        """The PaymentIntent the event concerns, for intent, charge, refund and dispute events."""
        if self.object.get("object") == "payment_intent":
            return _string(self.object.get("id"))
        return _string(self.object.get("payment_intent"))


def _string(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class PaymentError(Exception):
    """A provider call that failed. `reason` is one of the `REASON_*` values below.

    `intent` carries the PaymentIntent's state when the provider sent it with the error,
    so a caller can act on what happened (for example an intent that is already captured).
    """

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        provider_code: str | None = None,
        intent: IntentSnapshot | None = None,
    ) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.provider_code = provider_code
        self.intent = intent

    @property
    def retryable(self) -> bool:
        return self.reason in (REASON_UNAVAILABLE, REASON_INSUFFICIENT_FUNDS)


# Seconds a client should wait before retrying after 503 payments.unavailable.
UNAVAILABLE_RETRY_SECONDS = 5


def payments_unavailable() -> AppError:
    """Return the 503 for a payment provider that failed or is unreachable (with Retry-After)."""
    return AppError(
        "payments.unavailable",
        status=503,
        details={"retryAfterSeconds": UNAVAILABLE_RETRY_SECONDS},
    )


REASON_CARD_DECLINED = "card_declined"
REASON_AUTHORIZATION_EXPIRED = "authorization_expired"
REASON_UNEXPECTED_STATE = "unexpected_state"
REASON_DESTINATION_NOT_READY = "destination_not_ready"
REASON_INSUFFICIENT_FUNDS = "insufficient_funds"
REASON_ALREADY_REFUNDED = "already_refunded"
REASON_NOT_FOUND = "not_found"
REASON_INVALID_REQUEST = "invalid_request"
REASON_UNAVAILABLE = "unavailable"
REASON_CONFIGURATION = "configuration"


class PaymentsProvider(Protocol):
    """Money operations; every write takes an idempotency key so retries never repeat it."""

    name: str

    async def create_intent(
        self,
        *,
        amount: int,
        currency: str,
        purchase_id: str,
        transfer_group: str,
        capture_manually: bool,
        description: str,
        idempotency_key: str,
    ) -> IntentSnapshot: ...

    async def retrieve_intent(self, intent_id: str) -> IntentSnapshot: ...

    async def capture_intent(self, intent_id: str, *, idempotency_key: str) -> IntentSnapshot: ...

    async def cancel_intent(self, intent_id: str, *, idempotency_key: str) -> IntentSnapshot: ...

    async def refund(
        self, *, intent_id: str, amount: int, reason: str, idempotency_key: str
    ) -> RefundResult: ...

    async def create_transfer(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        transfer_group: str,
        source_charge_id: str | None,
        purchase_id: str,
        idempotency_key: str,
    ) -> TransferResult: ...

    async def list_transfers(self, *, transfer_group: str) -> list[TransferResult]: ...

    async def create_connected_account(
        self, *, user_id: str, email: str | None, idempotency_key: str
    ) -> ConnectedAccount: ...

    async def retrieve_connected_account(self, account_id: str) -> ConnectedAccount: ...

    async def create_onboarding_link(
        self, *, account_id: str, refresh_url: str, return_url: str
    ) -> OnboardingLink: ...

    def parse_webhook(self, payload: bytes, signature: str | None) -> WebhookEvent: ...

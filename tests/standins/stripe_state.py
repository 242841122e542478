"""Objects and money rules of the Stripe stand-in: PaymentIntents, charges, refunds.

Every method runs under the server's lock, so the state is consistent across the
server's request threads and the test thread. Connect objects (accounts, transfers,
disputes) live in `stripe_connect.py`.
"""

from __future__ import annotations

import copy
import secrets
import time
from dataclasses import dataclass
from typing import Any

from tests.standins.stripe_forms import (
    MINIMUM_CHARGE_AMOUNTS,
    StripeApiError,
)

API_VERSION = "2026-10-28.endive"

# Stripe accepts a charge `amount` of at most eight digits.
MAXIMUM_CHARGE_AMOUNT = 99_999_999


@dataclass(frozen=True)
class CardDecline:
    """The error Stripe returns (and keeps as `last_payment_error`) for a failing test card."""

    code: str
    decline_code: str
    message: str
    param: str | None = None


@dataclass(frozen=True)
class StandInCard:
    brand: str
    last4: str
    decline: CardDecline | None = None


_DECLINED = "Your card was declined."

# Stripe's test payment methods (docs.stripe.com/testing) and what confirming with each does.
TEST_CARDS: dict[str, StandInCard] = {
    "pm_card_visa": StandInCard("visa", "4242"),
    "pm_card_mastercard": StandInCard("mastercard", "4444"),
    "pm_card_chargeDeclined": StandInCard(
        "visa", "0002", CardDecline("card_declined", "generic_decline", _DECLINED)
    ),
    "pm_card_chargeDeclinedInsufficientFunds": StandInCard(
        "visa",
        "9995",
        CardDecline("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    ),
    "pm_card_chargeDeclinedLostCard": StandInCard(
        "visa", "9987", CardDecline("card_declined", "lost_card", _DECLINED)
    ),
    "pm_card_chargeDeclinedStolenCard": StandInCard(
        "visa", "9979", CardDecline("card_declined", "stolen_card", _DECLINED)
    ),
    "pm_card_chargeDeclinedFraudulent": StandInCard(
        "visa", "0019", CardDecline("card_declined", "fraudulent", _DECLINED)
    ),
    "pm_card_chargeDeclinedExpiredCard": StandInCard(
        "visa",
        "0069",
        CardDecline("expired_card", "expired_card", "Your card has expired.", "exp_month"),
    ),
    "pm_card_chargeDeclinedIncorrectCvc": StandInCard(
        "visa",
        "0127",
        CardDecline(
            "incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.", "cvc"
        ),
    ),
    "pm_card_chargeDeclinedProcessingError": StandInCard(
        "visa",
        "0119",
        CardDecline(
            "processing_error",
            "processing_error",
            "An error occurred while processing your card. Try again in a little bit.",
        ),
    ),
}

CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class StripeWorld:
    """The stand-in's account state: objects, the clock, and the events it emits."""

    def __init__(self, *, authorization_days: int = 7) -> None:
        self.authorization_days = authorization_days
        self.clock_offset = 0
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.transfers: dict[str, dict[str, Any]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []
        self.request_context: dict[str, Any] = {"id": None, "idempotency_key": None}

    # -- clock and events ---------------------------------------------------------------

    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    def emit(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        event = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now(),
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": dict(self.request_context),
            "type": event_type,
        }
        self.events.append(event)
        self.outbox.append(event)
        return event

    # -- PaymentIntents -----------------------------------------------------------------

    def create_payment_intent(
        self,
        *,
        amount: int,
        currency: str,
        capture_method: str,
        metadata: dict[str, str],
        transfer_group: str | None,
        description: str | None,
    ) -> dict[str, Any]:
        minimum = MINIMUM_CHARGE_AMOUNTS.get(currency, 50)
        if amount < minimum:
            raise StripeApiError(
                400,
                f"Amount must be at least {minimum} {currency} cents",
                code="amount_too_small",
                param="amount",
            )
        if amount > MAXIMUM_CHARGE_AMOUNT:
            raise StripeApiError(
                400,
                f"Amount must be no more than {MAXIMUM_CHARGE_AMOUNT} {currency} cents",
                code="amount_too_large",
                param="amount",
            )
        intent_id = new_id("pi")
        intent: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "capture_method": capture_method,
            "cancellation_reason": None,
            "canceled_at": None,
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}",
            "confirmation_method": "automatic",
            "created": self.now(),
            "currency": currency,
            "description": description,
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": metadata,
            "next_action": None,
            "payment_method": None,
            "payment_method_types": ["card"],
            "status": "requires_payment_method",
            "transfer_group": transfer_group,
        }
        self.payment_intents[intent_id] = intent
        self.emit("payment_intent.created", intent)
        return intent

    def payment_intent(self, intent_id: str, *, param: str = "intent") -> dict[str, Any]:
        self.expire_due_authorizations()
        intent = self.payment_intents.get(intent_id)
        if intent is None:
            raise StripeApiError(
                404, f"No such payment_intent: '{intent_id}'", code="resource_missing", param=param
            )
        return intent

    def render_intent(self, intent: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        rendered = copy.deepcopy(intent)
        if "latest_charge" in expand and intent["latest_charge"]:
            rendered["latest_charge"] = copy.deepcopy(self.charges[intent["latest_charge"]])
        return rendered

    def confirm_payment_intent(self, intent_id: str, *, payment_method: str | None) -> dict:
        intent = self.payment_intent(intent_id)
        if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
            raise self._unexpected_state(
                intent, "confirm", ("requires_payment_method", "requires_confirmation")
            )
        method = payment_method or intent["payment_method"]
        if method is None:
            raise StripeApiError(
                400,
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                code="payment_intent_unexpected_state",
                saved=True,
            )
        card = TEST_CARDS.get(method)
        if card is None:
            raise StripeApiError(
                400,
                f"No such PaymentMethod: '{method}'",
                code="resource_missing",
                param="payment_method",
                saved=True,
            )
        intent["payment_method"] = method
        if card.decline is not None:
            return self._decline(intent, card.decline)

        charge = self._new_charge(intent, card)
        intent["latest_charge"] = charge["id"]
        intent["last_payment_error"] = None
        self.emit("charge.succeeded", charge)
        if intent["capture_method"] == "manual":
            intent["status"] = "requires_capture"
            intent["amount_capturable"] = intent["amount"]
            self.emit("payment_intent.amount_capturable_updated", intent)
        else:
            charge["captured"] = True
            charge["amount_captured"] = intent["amount"]
            intent["status"] = "succeeded"
            intent["amount_received"] = intent["amount"]
            self.emit("payment_intent.succeeded", intent)
        return intent

    def _new_charge(self, intent: dict[str, Any], card: StandInCard) -> dict:
        manual = intent["capture_method"] == "manual"
        charge = {
            "id": new_id("ch"),
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": 0,
            "amount_refunded": 0,
            "balance_transaction": new_id("txn"),
            "captured": False,
            "created": self.now(),
            "currency": intent["currency"],
            "disputed": False,
            "livemode": False,
            "metadata": dict(intent["metadata"]),
            "paid": True,
            "payment_intent": intent["id"],
            "payment_method": intent["payment_method"],
            "payment_method_details": {
                "type": "card",
                "card": {
                    "brand": card.brand,
                    "last4": card.last4,
                    "network": card.brand,
                    "capture_before": (
                        self.now() + self.authorization_days * 86400 if manual else None
                    ),
                },
            },
            "refunded": False,
            "status": "succeeded",
            "transfer_group": intent["transfer_group"],
        }
        self.charges[charge["id"]] = charge
        return charge

    def _decline(self, intent: dict[str, Any], decline: CardDecline) -> dict[str, Any]:
        error = StripeApiError(
            402,
            decline.message,
            error_type="card_error",
            code=decline.code,
            param=decline.param,
            saved=True,
            extra={"decline_code": decline.decline_code},
        )
        intent["status"] = "requires_payment_method"
        intent["last_payment_error"] = copy.deepcopy(error.body["error"])
        self.emit("payment_intent.payment_failed", intent)
        error.body["error"]["payment_intent"] = copy.deepcopy(intent)
        raise error

    def capture_payment_intent(self, intent_id: str, *, amount_to_capture: int | None) -> dict:
        intent = self.payment_intent(intent_id)
        if intent["status"] == "canceled" and intent["cancellation_reason"] == "automatic":
            raise StripeApiError(
                400,
                "This PaymentIntent could not be captured because the authorization has expired.",
                code="charge_expired_for_capture",
                saved=True,
                extra={"payment_intent": copy.deepcopy(intent)},
            )
        if intent["status"] != "requires_capture":
            raise self._unexpected_state(intent, "capture", ("requires_capture",))
        amount = intent["amount_capturable"] if amount_to_capture is None else amount_to_capture
        if amount > intent["amount_capturable"]:
            raise StripeApiError(
                400,
                "The amount to capture must be less than or equal to the amount capturable.",
                code="amount_too_large",
                param="amount_to_capture",
                saved=True,
            )
        charge = self.charges[intent["latest_charge"]]
        charge["captured"] = True
        charge["amount_captured"] = amount
        if amount < intent["amount"]:
            # Stripe releases the part of the authorization that was not captured.
            charge["amount_refunded"] = intent["amount"] - amount
        intent["amount_received"] = amount
        intent["amount_capturable"] = 0
        intent["status"] = "succeeded"
        self.emit("charge.captured", charge)
        self.emit("payment_intent.succeeded", intent)
        return intent

    def cancel_payment_intent(self, intent_id: str, *, reason: str | None) -> dict[str, Any]:
        intent = self.payment_intent(intent_id)
        if intent["status"] not in CANCELABLE:
            raise self._unexpected_state(intent, "cancel", CANCELABLE)
        was_authorized = intent["status"] == "requires_capture"
        self._cancel(intent, reason)
        if was_authorized:
            charge = self.charges[intent["latest_charge"]]
            charge["refunded"] = True
            charge["amount_refunded"] = charge["amount"]
            self.emit("charge.refunded", charge)
        self.emit("payment_intent.canceled", intent)
        return intent

    def _cancel(self, intent: dict[str, Any], reason: str | None) -> None:
        intent["status"] = "canceled"
        intent["cancellation_reason"] = reason
        intent["canceled_at"] = self.now()
        intent["amount_capturable"] = 0

    def _unexpected_state(
        self, intent: dict[str, Any], action: str, allowed: tuple[str, ...]
    ) -> StripeApiError:
        verb = {"capture": "captured", "cancel": "canceled", "confirm": "confirmed"}[action]
        return StripeApiError(
            400,
            f"This PaymentIntent could not be {verb} because it has a status of "
            f"{intent['status']}. Only a PaymentIntent with one of the following statuses may "
            f"be {verb}: {', '.join(allowed)}.",
            code="payment_intent_unexpected_state",
            saved=True,
            extra={"payment_intent": copy.deepcopy(intent)},
        )

    def expire_authorization(self, intent_id: str) -> dict[str, Any]:
        """Let the card network drop an uncaptured authorization, as after `capture_before`."""
        intent = self.payment_intents[intent_id]
        if intent["status"] != "requires_capture":
            raise ValueError(f"{intent_id} is {intent['status']}, not requires_capture")
        charge = self.charges[intent["latest_charge"]]
        self._cancel(intent, "automatic")
        charge["refunded"] = True
        charge["amount_refunded"] = charge["amount"]
        self.emit("charge.expired", charge)
        self.emit("payment_intent.canceled", intent)
        return intent

    def expire_due_authorizations(self) -> None:
        now = self.now()
        for intent in list(self.payment_intents.values()):
            if intent["status"] != "requires_capture":
                continue
            card = self.charges[intent["latest_charge"]]["payment_method_details"]["card"]
            if card["capture_before"] is not None and now >= card["capture_before"]:
                self.expire_authorization(intent["id"])

    # -- charges and refunds ------------------------------------------------------------

    def charge(self, charge_id: str, *, param: str = "charge") -> dict[str, Any]:
        self.expire_due_authorizations()
        charge = self.charges.get(charge_id)
        if charge is None:
            raise StripeApiError(
                404, f"No such charge: '{charge_id}'", code="resource_missing", param=param
            )
        return charge

    def create_refund(
        self,
        *,
        charge_id: str | None,
        intent_id: str | None,
        amount: int | None,
        reason: str | None,
        metadata: dict[str, str],
    ) -> dict[str, Any]:
        if intent_id is not None:
            intent = self.payment_intent(intent_id, param="payment_intent")
            if intent["latest_charge"] is None or intent["status"] != "succeeded":
                raise StripeApiError(
                    400,
                    f"This PaymentIntent ({intent_id}) does not have a successful charge to "
                    "refund.",
                    code="charge_not_refundable" if intent["latest_charge"] else None,
                    param="payment_intent",
                    saved=True,
                )
            charge = self.charges[intent["latest_charge"]]
        else:
            charge = self.charge(str(charge_id))
            if not charge["captured"]:
                raise StripeApiError(
                    400,
                    "This charge has not been captured; cancel its PaymentIntent instead.",
                    code="charge_not_refundable",
                    param="charge",
                    saved=True,
                )
        if charge["disputed"]:
            raise StripeApiError(
                400,
                f"Charge {charge['id']} has been charged back; cannot issue a refund.",
                code="charge_disputed",
                saved=True,
            )
        remaining = charge["amount_captured"] - charge["amount_refunded"]
        if remaining <= 0:
            raise StripeApiError(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
                saved=True,
            )
        refund_amount = remaining if amount is None else amount
        if refund_amount > remaining:
            raise StripeApiError(
                400,
                f"Refund amount ({refund_amount}) is greater than unrefunded amount on charge "
                f"({remaining})",
                param="amount",
                code="amount_too_large",
                saved=True,
            )
        refund = {
            "id": new_id("re"),
            "object": "refund",
            "amount": refund_amount,
            "charge": charge["id"],
            "created": self.now(),
            "currency": charge["currency"],
            "metadata": metadata,
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "status": "succeeded",
        }
        self.refunds[refund["id"]] = refund
        charge["amount_refunded"] += refund_amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
        self.emit("refund.created", refund)
        self.emit("charge.refunded", charge)
        return refund

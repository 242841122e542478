"""Stripe provider: PaymentIntents, Refunds, Transfers and Connect accounts through the
official `stripe` SDK (async calls over httpx), with a configurable API base URL.

Money moves follow Stripe's "separate charges and transfers" model: the buyer pays the
platform, and the release is a Transfer of the escrow amount to the seller's connected
account, linked to the charge by `source_transaction` and to the purchase by
`transfer_group`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import stripe
import structlog

from taskgo.payments import provider as p
from taskgo.payments.provider import (
    ConnectedAccount,
    IntentSnapshot,
    OnboardingLink,
    PaymentError,
    RefundResult,
    TransferResult,
    WebhookEvent,
)

log = structlog.get_logger(__name__)

_REASON_BY_CODE = {
    "charge_expired_for_capture": p.REASON_AUTHORIZATION_EXPIRED,
    "payment_intent_unexpected_state": p.REASON_UNEXPECTED_STATE,
    "insufficient_capabilities_for_transfer": p.REASON_DESTINATION_NOT_READY,
    "account_invalid": p.REASON_DESTINATION_NOT_READY,
    "balance_insufficient": p.REASON_INSUFFICIENT_FUNDS,
    "charge_already_refunded": p.REASON_ALREADY_REFUNDED,
    "resource_missing": p.REASON_NOT_FOUND,
}


class StripePayments:
    name = "stripe"

    def __init__(
        self,
        *,
        secret_key: str,
        webhook_secret: str,
        api_base: str = stripe.DEFAULT_API_BASE,
        timeout_seconds: float = 20.0,
        max_network_retries: int = 2,
        connect_country: str = "BR",
    ) -> None:
        self._webhook_secret = webhook_secret
        self._connect_country = connect_country
        self._http = stripe.HTTPXClient(timeout=timeout_seconds)
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base, "connect": api_base},
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    async def aclose(self) -> None:
        await self._http.close_async()

    # -- PaymentIntents ----------------------------------------------------------------

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
    ) -> IntentSnapshot:
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency,
            "capture_method": "manual" if capture_manually else "automatic",
            "payment_method_types": ["card"],
            "metadata": {"purchase_id": purchase_id},
            "transfer_group": transfer_group,
            "description": description,
        }
        intent = await self._call(
            self._client.v1.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        )
        return self._snapshot(intent)

    async def retrieve_intent(self, intent_id: str) -> IntentSnapshot:
        intent = await self._call(
            self._client.v1.payment_intents.retrieve_async(intent_id, {"expand": ["latest_charge"]})
        )
        return self._snapshot(intent)

    async def capture_intent(self, intent_id: str, *, idempotency_key: str) -> IntentSnapshot:
        intent = await self._call(
            self._client.v1.payment_intents.capture_async(
                intent_id,
                {"expand": ["latest_charge"]},
                options={"idempotency_key": idempotency_key},
            )
        )
        return self._snapshot(intent)

    async def cancel_intent(self, intent_id: str, *, idempotency_key: str) -> IntentSnapshot:
        intent = await self._call(
            self._client.v1.payment_intents.cancel_async(
                intent_id,
                {"cancellation_reason": "requested_by_customer", "expand": ["latest_charge"]},
                options={"idempotency_key": idempotency_key},
            )
        )
        return self._snapshot(intent)

    async def refund(
        self, *, intent_id: str, amount: int, reason: str, idempotency_key: str
    ) -> RefundResult:
        refund = await self._call(
            self._client.v1.refunds.create_async(
                {
                    "payment_intent": intent_id,
                    "amount": amount,
                    "reason": "requested_by_customer",
                    "metadata": {"taskgo_reason": reason},
                },
                options={"idempotency_key": idempotency_key},
            )
        )
        data = refund.to_dict()
        return RefundResult(id=data["id"], amount=int(data["amount"]), status=str(data["status"]))

    # -- Connect -----------------------------------------------------------------------

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
    ) -> TransferResult:
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency,
            "destination": destination,
            "transfer_group": transfer_group,
            "metadata": {"purchase_id": purchase_id},
        }
        if source_charge_id is not None:
            # Ties the transfer to the charge, so it does not wait for the platform's
            # available balance and cannot exceed what the charge brought in.
            params["source_transaction"] = source_charge_id
        transfer = await self._call(
            self._client.v1.transfers.create_async(
                params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        )
        return _transfer(transfer.to_dict())

    async def list_transfers(self, *, transfer_group: str) -> list[TransferResult]:
        page = await self._call(
            self._client.v1.transfers.list_async({"transfer_group": transfer_group, "limit": 100})
        )
        return [_transfer(item) for item in page.to_dict()["data"]]

    async def create_connected_account(
        self, *, user_id: str, email: str | None, idempotency_key: str
    ) -> ConnectedAccount:
        params: dict[str, Any] = {
            "type": "express",
            "country": self._connect_country,
            "capabilities": {"transfers": {"requested": True}},
            "metadata": {"user_id": user_id},
        }
        if email:
            params["email"] = email
        account = await self._call(
            self._client.v1.accounts.create_async(
                params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        )
        return _account(account.to_dict())

    async def retrieve_connected_account(self, account_id: str) -> ConnectedAccount:
        account = await self._call(self._client.v1.accounts.retrieve_async(account_id))
        return _account(account.to_dict())

    async def create_onboarding_link(
        self, *, account_id: str, refresh_url: str, return_url: str
    ) -> OnboardingLink:
        link = await self._call(
            self._client.v1.account_links.create_async(
                {
                    "account": account_id,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                }
            )
        )
        data = link.to_dict()
        return OnboardingLink(
            url=str(data["url"]), expires_at=datetime.fromtimestamp(data["expires_at"], UTC)
        )

    # -- webhooks ----------------------------------------------------------------------

    def parse_webhook(self, payload: bytes, signature: str | None) -> WebhookEvent:
        """Verify `Stripe-Signature` over the raw body and decode the event.

        Raises `stripe.SignatureVerificationError` or `ValueError` for a forged or
        malformed request.
        """
        stripe.WebhookSignature.verify_header(
            payload, signature or "", self._webhook_secret, stripe.Webhook.DEFAULT_TOLERANCE
        )
        return _webhook_event(json.loads(payload))

    # -- helpers -----------------------------------------------------------------------

    async def _call(self, pending: Any) -> Any:
        try:
            return await pending
        except stripe.StripeError as error:
            raise self._translate(error) from error

    def _translate(self, error: stripe.StripeError) -> PaymentError:
        body = error.json_body if isinstance(error.json_body, dict) else {}
        details = body.get("error") or {}
        code = details.get("code") or error.code
        message = details.get("message") or str(error)
        intent = None
        if isinstance(details.get("payment_intent"), dict):
            intent = self._snapshot_dict(details["payment_intent"], charge=None)

        if isinstance(error, stripe.CardError):
            reason = p.REASON_CARD_DECLINED
        elif isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
            reason = p.REASON_CONFIGURATION
        elif isinstance(error, stripe.APIConnectionError | stripe.RateLimitError) or (
            error.http_status is not None and error.http_status >= 500
        ):
            reason = p.REASON_UNAVAILABLE
        else:
            reason = _REASON_BY_CODE.get(code or "", p.REASON_INVALID_REQUEST)
        log.warning(
            "payments.stripe_call_failed",
            reason=reason,
            stripe_code=code,
            http_status=error.http_status,
            request_id=error.request_id,
        )
        return PaymentError(reason, message, provider_code=code, intent=intent)

    def _snapshot(self, intent: Any) -> IntentSnapshot:
        data = intent.to_dict()
        charge = data.get("latest_charge")
        return self._snapshot_dict(data, charge=charge if isinstance(charge, dict) else None)

    @staticmethod
    def _snapshot_dict(data: dict[str, Any], *, charge: dict[str, Any] | None) -> IntentSnapshot:
        capture_before = None
        captured = refunded = 0
        disputed = False
        charge_id = (
            data.get("latest_charge") if isinstance(data.get("latest_charge"), str) else None
        )
        if charge is not None:
            charge_id = charge["id"]
            captured = int(charge.get("amount_captured") or 0)
            refunded = int(charge.get("amount_refunded") or 0)
            disputed = bool(charge.get("disputed"))
            card = (charge.get("payment_method_details") or {}).get("card") or {}
            if card.get("capture_before"):
                capture_before = datetime.fromtimestamp(card["capture_before"], UTC)
        error = data.get("last_payment_error")
        if not isinstance(error, dict):
            error = {}
        return IntentSnapshot(
            id=data["id"],
            status=data["status"],
            amount=int(data["amount"]),
            currency=data["currency"],
            amount_capturable=int(data.get("amount_capturable") or 0),
            amount_received=int(data.get("amount_received") or 0),
            client_secret=data.get("client_secret"),
            metadata=dict(data.get("metadata") or {}),
            transfer_group=data.get("transfer_group"),
            charge_id=charge_id,
            captured_amount=captured,
            # Stripe counts a released authorization (whole, or the part left over by a
            # partial capture) as refunded; only captured money returned counts here.
            refunded_amount=max(0, refunded - (int(data["amount"]) - captured)) if captured else 0,
            capture_before=capture_before,
            cancellation_reason=data.get("cancellation_reason"),
            disputed=disputed,
            failure_code=error.get("code"),
            failure_decline_code=error.get("decline_code"),
            failure_message=error.get("message"),
        )


def _webhook_event(data: Any) -> WebhookEvent:
    """Build the event from a verified body.

    Raises ValueError when the id, the type or `data.object` is missing or of the wrong type.
    """
    if not isinstance(data, dict):
        raise ValueError("the event is not a JSON object")
    event_id, kind, body = data.get("id"), data.get("type"), data.get("data")
    snapshot = body.get("object") if isinstance(body, dict) else None
    if not (isinstance(event_id, str) and 0 < len(event_id) <= 255 and isinstance(kind, str)):
        raise ValueError("the event has no usable id or type")
    if not isinstance(snapshot, dict):
        raise ValueError("the event has no data.object")
    return WebhookEvent(id=event_id, type=kind, object=snapshot)


def _transfer(data: dict[str, Any]) -> TransferResult:
    return TransferResult(
        id=data["id"],
        amount=int(data["amount"]),
        destination=str(data["destination"]),
        transfer_group=data.get("transfer_group"),
        reversed_amount=int(data.get("amount_reversed") or 0),
    )


def _account(data: dict[str, Any]) -> ConnectedAccount:
    capabilities = data.get("capabilities") or {}
    return ConnectedAccount(
        id=data["id"],
        transfers_enabled=capabilities.get("transfers") == "active",
        payouts_enabled=bool(data.get("payouts_enabled")),
        details_submitted=bool(data.get("details_submitted")),
    )

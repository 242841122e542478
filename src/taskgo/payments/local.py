"""Local payments simulator: the Stripe lifecycle without Stripe, for `make run` and demos.

Objects live in `local_payment_objects` and each call runs in its own transaction, as a
remote service would: a caller's rollback does not undo a capture. Card confirmation is
`confirm_intent`, which the dev route calls in place of the app's `confirmPayment`. Connected
accounts can receive transfers at once; there is no hosted onboarding form.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.payments import provider as p
from taskgo.payments.local_declines import SIMULATED_DECLINES
from taskgo.payments.local_pool import SimulatorPool
from taskgo.payments.models import LocalPaymentObject
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


# Stripe clears `last_payment_error` when a later attempt succeeds.
_NO_FAILURE: dict[str, Any] = {
    "failure_code": None,
    "failure_decline_code": None,
    "failure_message": None,
}


def _new_id(prefix: str) -> str:
    return f"{prefix}_local_{secrets.token_hex(10)}"


def _intent_from(data: dict[str, Any]) -> IntentSnapshot:
    fields = dict(data)
    fields.pop("idempotency_keys", None)
    if fields.get("capture_before"):
        fields["capture_before"] = datetime.fromisoformat(fields["capture_before"])
    return IntentSnapshot(**fields)


def _intent_data(intent: IntentSnapshot, keys: list[str]) -> dict[str, Any]:
    data = asdict(intent)
    if intent.capture_before is not None:
        data["capture_before"] = intent.capture_before.isoformat()
    data["idempotency_keys"] = keys
    return data


class LocalPayments:
    name = "local"

    def __init__(self, *, authorization_days: int = 7) -> None:
        self.authorization_days = authorization_days
        self._pool = SimulatorPool()

    async def aclose(self) -> None:
        """Close the simulator's own database connections (at shutdown)."""
        await self._pool.close()

    async def _load(self, session: AsyncSession, object_id: str, kind: str) -> LocalPaymentObject:
        row = await session.scalar(
            select(LocalPaymentObject)
            .where(LocalPaymentObject.id == object_id, LocalPaymentObject.kind == kind)
            .with_for_update()
        )
        if row is None:
            raise PaymentError(p.REASON_NOT_FOUND, f"No such {kind}: '{object_id}'")
        return row

    async def _by_key(self, session: AsyncSession, key: str) -> LocalPaymentObject | None:
        return await session.scalar(
            select(LocalPaymentObject).where(LocalPaymentObject.idempotency_key == key)
        )

    def _expire_if_due(self, row: LocalPaymentObject) -> IntentSnapshot:
        intent = _intent_from(row.data)
        due = intent.capture_before is not None and datetime.now(UTC) >= intent.capture_before
        if intent.status == p.REQUIRES_CAPTURE and due:
            intent = self._replace(
                intent, status=p.CANCELED, amount_capturable=0, cancellation_reason="automatic"
            )
            row.data = _intent_data(intent, row.data.get("idempotency_keys", []))
            log.info("payments.local_authorization_expired", intent_id=intent.id)
        return intent

    @staticmethod
    def _replace(intent: IntentSnapshot, **changes: Any) -> IntentSnapshot:
        return IntentSnapshot(**{**asdict(intent), **changes})

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
        async with self._pool.transaction() as session:
            existing = await self._by_key(session, idempotency_key)
            if existing is not None:
                return _intent_from(existing.data)
            intent_id = _new_id("pi")
            intent = IntentSnapshot(
                id=intent_id,
                status=p.REQUIRES_PAYMENT_METHOD,
                amount=amount,
                currency=currency,
                amount_capturable=0,
                amount_received=0,
                client_secret=f"{intent_id}_secret_{secrets.token_hex(12)}",
                metadata={
                    "purchase_id": purchase_id,
                    "capture_method": "manual" if capture_manually else "automatic",
                },
                transfer_group=transfer_group,
            )
            session.add(
                LocalPaymentObject(
                    id=intent_id,
                    kind="intent",
                    idempotency_key=idempotency_key,
                    transfer_group=transfer_group,
                    data=_intent_data(intent, []),
                )
            )
            return intent

    async def retrieve_intent(self, intent_id: str) -> IntentSnapshot:
        async with self._pool.transaction() as session:
            return self._expire_if_due(await self._load(session, intent_id, "intent"))

    async def confirm_intent(self, intent_id: str, *, decline: str | None = None) -> IntentSnapshot:
        """Authorize the card, as the app's `confirmPayment` does with Stripe.

        `decline` names an entry of SIMULATED_DECLINES to fail the attempt instead. The
        intent then stays in `requires_payment_method` with that failure, as with Stripe.
        """
        async with self._pool.transaction() as session:
            row = await self._load(session, intent_id, "intent")
            intent = self._expire_if_due(row)
            if intent.status != p.REQUIRES_PAYMENT_METHOD:
                raise PaymentError(
                    p.REASON_UNEXPECTED_STATE,
                    f"PaymentIntent {intent_id} cannot be confirmed in status {intent.status}",
                    intent=intent,
                )
            if decline is not None:
                failure = SIMULATED_DECLINES[decline]
                intent = self._replace(
                    intent,
                    failure_code=failure.code,
                    failure_decline_code=failure.decline_code,
                    failure_message=failure.message,
                )
            elif intent.metadata.get("capture_method") == "automatic":
                intent = self._replace(
                    intent,
                    status=p.SUCCEEDED,
                    amount_received=intent.amount,
                    captured_amount=intent.amount,
                    charge_id=_new_id("ch"),
                    **_NO_FAILURE,
                )
            else:
                intent = self._replace(
                    intent,
                    status=p.REQUIRES_CAPTURE,
                    amount_capturable=intent.amount,
                    charge_id=_new_id("ch"),
                    **_NO_FAILURE,
                    capture_before=datetime.now(UTC) + timedelta(days=self.authorization_days),
                )
            row.data = _intent_data(intent, row.data.get("idempotency_keys", []))
            return intent

    async def _change_intent(
        self,
        intent_id: str,
        *,
        idempotency_key: str,
        action: str,
        allowed: tuple[str, ...],
        **changes: Any,
    ) -> IntentSnapshot:
        async with self._pool.transaction() as session:
            row = await self._load(session, intent_id, "intent")
            intent = self._expire_if_due(row)
            keys: list[str] = list(row.data.get("idempotency_keys", []))
            if idempotency_key in keys:
                return intent
            if action == "capture" and intent.cancellation_reason == "automatic":
                raise PaymentError(
                    p.REASON_AUTHORIZATION_EXPIRED,
                    f"PaymentIntent {intent_id} authorization has expired",
                    intent=intent,
                )
            if intent.status not in allowed:
                raise PaymentError(
                    p.REASON_UNEXPECTED_STATE,
                    f"PaymentIntent {intent_id} cannot be {action}d in status {intent.status}",
                    intent=intent,
                )
            if action == "capture":
                changes = {
                    "status": p.SUCCEEDED,
                    "amount_received": intent.amount_capturable,
                    "captured_amount": intent.amount_capturable,
                    "amount_capturable": 0,
                }
            intent = self._replace(intent, **changes)
            row.data = _intent_data(intent, [*keys, idempotency_key])
            return intent

    async def capture_intent(self, intent_id: str, *, idempotency_key: str) -> IntentSnapshot:
        return await self._change_intent(
            intent_id,
            idempotency_key=idempotency_key,
            action="capture",
            allowed=(p.REQUIRES_CAPTURE,),
        )

    async def cancel_intent(self, intent_id: str, *, idempotency_key: str) -> IntentSnapshot:
        return await self._change_intent(
            intent_id,
            idempotency_key=idempotency_key,
            action="cancel",
            allowed=(p.REQUIRES_PAYMENT_METHOD, p.REQUIRES_CAPTURE),
            status=p.CANCELED,
            amount_capturable=0,
            cancellation_reason="requested_by_customer",
        )

    async def refund(
        self, *, intent_id: str, amount: int, reason: str, idempotency_key: str
    ) -> RefundResult:
        async with self._pool.transaction() as session:
            existing = await self._by_key(session, idempotency_key)
            if existing is not None:
                return RefundResult(**existing.data)
            row = await self._load(session, intent_id, "intent")
            intent = _intent_from(row.data)
            remaining = intent.captured_amount - intent.refunded_amount
            if not intent.captured:
                raise PaymentError(
                    p.REASON_INVALID_REQUEST,
                    f"PaymentIntent {intent_id} has no captured charge to refund",
                )
            if remaining <= 0:
                raise PaymentError(p.REASON_ALREADY_REFUNDED, f"{intent_id} is fully refunded")
            if amount > remaining:
                raise PaymentError(
                    p.REASON_INVALID_REQUEST,
                    f"Refund of {amount} exceeds the {remaining} left to refund",
                )
            intent = self._replace(intent, refunded_amount=intent.refunded_amount + amount)
            row.data = _intent_data(intent, row.data.get("idempotency_keys", []))
            refund = RefundResult(id=_new_id("re"), amount=amount, status="succeeded")
            session.add(
                LocalPaymentObject(
                    id=refund.id,
                    kind="refund",
                    idempotency_key=idempotency_key,
                    transfer_group=intent.transfer_group,
                    data=asdict(refund),
                )
            )
            return refund

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
        async with self._pool.transaction() as session:
            existing = await self._by_key(session, idempotency_key)
            if existing is not None:
                return TransferResult(**existing.data)
            account = await session.get(LocalPaymentObject, destination)
            if account is None or account.kind != "account":
                raise PaymentError(p.REASON_DESTINATION_NOT_READY, f"No such account {destination}")
            intents = (
                await session.scalars(
                    select(LocalPaymentObject)
                    .where(
                        LocalPaymentObject.kind == "intent",
                        LocalPaymentObject.transfer_group == transfer_group,
                    )
                    .with_for_update()
                )
            ).all()
            available = sum(
                _intent_from(i.data).captured_amount - _intent_from(i.data).refunded_amount
                for i in intents
            )
            sent = sum(
                t.amount - t.reversed_amount for t in await self._transfers(session, transfer_group)
            )
            if amount > available - sent:
                raise PaymentError(
                    p.REASON_INSUFFICIENT_FUNDS,
                    f"Transfer of {amount} exceeds the {available - sent} available",
                )
            transfer = TransferResult(
                id=_new_id("tr"),
                amount=amount,
                destination=destination,
                transfer_group=transfer_group,
            )
            session.add(
                LocalPaymentObject(
                    id=transfer.id,
                    kind="transfer",
                    idempotency_key=idempotency_key,
                    transfer_group=transfer_group,
                    data=asdict(transfer),
                )
            )
            return transfer

    async def _transfers(self, session: AsyncSession, group: str) -> list[TransferResult]:
        rows = await session.scalars(
            select(LocalPaymentObject).where(
                LocalPaymentObject.kind == "transfer", LocalPaymentObject.transfer_group == group
            )
        )
        return [TransferResult(**row.data) for row in rows]

    async def list_transfers(self, *, transfer_group: str) -> list[TransferResult]:
        async with self._pool.transaction() as session:
            return await self._transfers(session, transfer_group)

    async def create_connected_account(
        self, *, user_id: str, email: str | None, idempotency_key: str
    ) -> ConnectedAccount:
        async with self._pool.transaction() as session:
            existing = await self._by_key(session, idempotency_key)
            if existing is not None:
                return ConnectedAccount(**existing.data)
            account = ConnectedAccount(
                id=_new_id("acct"),
                transfers_enabled=True,
                payouts_enabled=True,
                details_submitted=True,
            )
            session.add(
                LocalPaymentObject(
                    id=account.id,
                    kind="account",
                    idempotency_key=idempotency_key,
                    data=asdict(account),
                )
            )
            return account

    async def retrieve_connected_account(self, account_id: str) -> ConnectedAccount:
        async with self._pool.transaction() as session:
            row = await self._load(session, account_id, "account")
            return ConnectedAccount(**row.data)

    async def create_onboarding_link(
        self, *, account_id: str, refresh_url: str, return_url: str
    ) -> OnboardingLink:
        # Local accounts are ready at creation, so onboarding goes straight to the return page.
        await self.retrieve_connected_account(account_id)
        return OnboardingLink(url=return_url, expires_at=datetime.now(UTC) + timedelta(minutes=5))

    def parse_webhook(self, payload: bytes, signature: str | None) -> WebhookEvent:
        raise PaymentError(p.REASON_CONFIGURATION, "the local payments provider sends no webhooks")

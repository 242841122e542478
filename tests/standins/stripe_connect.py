"""Connect side of the Stripe stand-in: connected accounts, onboarding links, transfers
and disputes, on top of the payment objects of `stripe_state.py`."""

from __future__ import annotations

import copy
import secrets
from typing import Any

from tests.standins.stripe_forms import StripeApiError
from tests.standins.stripe_state import StripeWorld, new_id


class StripeConnectWorld(StripeWorld):
    """Full stand-in state: payments plus Connect."""

    def __init__(self, *, authorization_days: int = 7) -> None:
        super().__init__(authorization_days=authorization_days)
        self.onboarding_tokens: dict[str, str] = {}

    # -- accounts ----------------------------------------------------------------------

    def create_account(
        self,
        *,
        account_type: str,
        country: str,
        email: str | None,
        requested_capabilities: list[str],
        metadata: dict[str, str],
    ) -> dict[str, Any]:
        account: dict[str, Any] = {
            "id": new_id("acct"),
            "object": "account",
            "business_type": None,
            "capabilities": {name: "inactive" for name in requested_capabilities},
            "charges_enabled": False,
            "country": country,
            "created": self.now(),
            "default_currency": "brl" if country == "BR" else "usd",
            "details_submitted": False,
            "email": email,
            "metadata": metadata,
            "payouts_enabled": False,
            "requirements": {"currently_due": ["external_account", "individual.id_number"]},
            "type": account_type,
        }
        self.accounts[account["id"]] = account
        return account

    def account(self, account_id: str, *, param: str = "account") -> dict[str, Any]:
        account = self.accounts.get(account_id)
        if account is None:
            raise StripeApiError(
                404 if param == "account" else 400,
                f"No such account: '{account_id}'",
                code="resource_missing" if param == "account" else "account_invalid",
                param=param,
            )
        return account

    def create_account_link(
        self, *, account_id: str, link_type: str, base_url: str
    ) -> dict[str, Any]:
        self.account(account_id, param="account")
        token = secrets.token_urlsafe(16)
        self.onboarding_tokens[token] = account_id
        return {
            "object": "account_link",
            "created": self.now(),
            "expires_at": self.now() + 300,
            "url": f"{base_url}/setup/e/{account_id}/{token}",
            "type": link_type,
        }

    def complete_onboarding(self, account_id: str) -> dict[str, Any]:
        """Finish the hosted onboarding form: capabilities become active."""
        account = self.accounts[account_id]
        account["capabilities"] = {name: "active" for name in account["capabilities"]}
        account["capabilities"].setdefault("transfers", "active")
        account["charges_enabled"] = True
        account["payouts_enabled"] = True
        account["details_submitted"] = True
        account["requirements"] = {"currently_due": []}
        self.emit("account.updated", account)
        return account

    def follow_onboarding_link(self, token: str) -> str | None:
        account_id = self.onboarding_tokens.pop(token, None)
        if account_id is not None:
            self.complete_onboarding(account_id)
        return account_id

    # -- transfers ---------------------------------------------------------------------

    def available_balance(self, currency: str) -> int:
        captured = sum(
            c["amount_captured"] - c["amount_refunded"]
            for c in self.charges.values()
            if c["currency"] == currency and c["captured"]
        )
        lost = sum(
            d["amount"]
            for d in self.disputes.values()
            if d["currency"] == currency and d["status"] == "lost"
        )
        sent = sum(
            t["amount"] - t["amount_reversed"]
            for t in self.transfers.values()
            if t["currency"] == currency
        )
        return captured - lost - sent

    def create_transfer(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        transfer_group: str | None,
        source_transaction: str | None,
        metadata: dict[str, str],
        description: str | None,
    ) -> dict[str, Any]:
        account = self.account(destination, param="destination")
        if account["capabilities"].get("transfers") != "active":
            raise StripeApiError(
                400,
                "Your destination account needs to have at least one of the following "
                "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                code="insufficient_capabilities_for_transfer",
                param="destination",
                saved=True,
            )
        if source_transaction is not None:
            self._check_source(source_transaction, amount=amount, currency=currency)
        elif amount > self.available_balance(currency):
            raise StripeApiError(
                400,
                "You have insufficient available funds in your Stripe account.",
                code="balance_insufficient",
                saved=True,
            )
        transfer: dict[str, Any] = {
            "id": new_id("tr"),
            "object": "transfer",
            "amount": amount,
            "amount_reversed": 0,
            "created": self.now(),
            "currency": currency,
            "description": description,
            "destination": destination,
            "metadata": metadata,
            "reversed": False,
            "source_transaction": source_transaction,
            "transfer_group": transfer_group,
        }
        self.transfers[transfer["id"]] = transfer
        self.emit("transfer.created", transfer)
        return transfer

    def _check_source(self, charge_id: str, *, amount: int, currency: str) -> None:
        charge = self.charges.get(charge_id)
        if charge is None:
            raise StripeApiError(
                400,
                f"No such charge: '{charge_id}'",
                code="resource_missing",
                param="source_transaction",
                saved=True,
            )
        if charge["currency"] != currency:
            raise StripeApiError(
                400,
                f"The currency of source_transaction's balance transaction ({charge['currency']})"
                f" must be the same as the transfer currency ({currency})",
                param="currency",
                saved=True,
            )
        already = sum(
            t["amount"] - t["amount_reversed"]
            for t in self.transfers.values()
            if t["source_transaction"] == charge_id
        )
        left = charge["amount_captured"] - charge["amount_refunded"] - already
        if not charge["captured"] or amount > left:
            raise StripeApiError(
                400,
                f"Insufficient funds in the source transaction {charge_id}: {left} available, "
                f"{amount} requested.",
                code="balance_insufficient",
                param="source_transaction",
                saved=True,
            )

    def transfer(self, transfer_id: str) -> dict[str, Any]:
        transfer = self.transfers.get(transfer_id)
        if transfer is None:
            raise StripeApiError(
                404, f"No such transfer: '{transfer_id}'", code="resource_missing", param="id"
            )
        return transfer

    def list_transfers(
        self, *, transfer_group: str | None, destination: str | None, limit: int
    ) -> dict[str, Any]:
        matches = [
            copy.deepcopy(t)
            for t in sorted(self.transfers.values(), key=lambda t: t["created"], reverse=True)
            if (transfer_group is None or t["transfer_group"] == transfer_group)
            and (destination is None or t["destination"] == destination)
        ]
        return {
            "object": "list",
            "data": matches[:limit],
            "has_more": len(matches) > limit,
            "url": "/v1/transfers",
        }

    def reverse_transfer(self, transfer_id: str) -> dict[str, Any]:
        """Reverse a whole transfer, as an operator would from the dashboard."""
        transfer = self.transfers[transfer_id]
        transfer["amount_reversed"] = transfer["amount"]
        transfer["reversed"] = True
        self.emit("transfer.reversed", transfer)
        return transfer

    # -- disputes ----------------------------------------------------------------------

    def open_dispute(self, intent_id: str, *, reason: str = "fraudulent") -> dict[str, Any]:
        intent = self.payment_intents[intent_id]
        charge = self.charges[intent["latest_charge"]]
        if not charge["captured"]:
            raise ValueError("only a captured charge can be disputed")
        charge["disputed"] = True
        dispute = {
            "id": new_id("dp"),
            "object": "dispute",
            "amount": charge["amount_captured"] - charge["amount_refunded"],
            "charge": charge["id"],
            "created": self.now(),
            "currency": charge["currency"],
            "payment_intent": intent_id,
            "reason": reason,
            "status": "needs_response",
        }
        self.disputes[dispute["id"]] = dispute
        self.emit("charge.dispute.created", dispute)
        return dispute

    def close_dispute(self, dispute_id: str, *, won: bool) -> dict[str, Any]:
        dispute = self.disputes[dispute_id]
        dispute["status"] = "won" if won else "lost"
        self.emit("charge.dispute.closed", dispute)
        return dispute

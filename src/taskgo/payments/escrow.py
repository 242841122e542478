"""Ledger transactions for each escrow step, keyed by the provider's object ids.

The same step reported twice, by a retry or a duplicate webhook, maps to the same keys,
and a step whose keys are already in the books produces nothing, so it is posted once.
"""

from __future__ import annotations

from taskgo.payments import ledger
from taskgo.payments.ledger import Balances, LedgerTransaction


def capture_transactions(
    *, charge_id: str, amount: int, current: Balances
) -> list[LedgerTransaction]:
    """The charge entry for `amount` captured on `charge_id`."""
    key = f"charge:{charge_id}"
    if key in current.keys or amount <= 0:
        return []
    return [ledger.charge(key=key, amount=amount, external_ref=charge_id)]


def release_amounts(*, purchase_id: str, fee_amount: int, current: Balances) -> tuple[int, int]:
    """Split what the escrow contains now into what a release pays: (fee, seller's transfer).

    Refunds made while the money was in escrow (at the provider, outside the app) come out
    of the seller's part. The fee is taken first, as far as the escrow balance covers it,
    and the seller receives the rest. Without refunds these are the purchase's own fee and
    escrow amount.
    """
    in_escrow = current.escrow_held
    fee_due = 0 if f"fee:{purchase_id}" in current.keys else min(fee_amount, in_escrow)
    return fee_due, in_escrow - fee_due


def release_transactions(
    *,
    purchase_id: str,
    fee_amount: int,
    escrow_amount: int,
    transfer_id: str | None,
    current: Balances,
) -> list[LedgerTransaction]:
    """The fee entry and, once the provider made the transfer, the transfer entry."""
    transactions = []
    fee_key = f"fee:{purchase_id}"
    if fee_amount > 0 and fee_key not in current.keys:
        transactions.append(ledger.fee(key=fee_key, amount=fee_amount))
    if transfer_id is not None and escrow_amount > 0:
        transfer_key = f"transfer:{transfer_id}"
        if transfer_key not in current.keys:
            transactions.append(
                ledger.transfer(key=transfer_key, amount=escrow_amount, external_ref=transfer_id)
            )
    return transactions


def returned_transactions(
    *, source: str, source_id: str, amount: int, current: Balances
) -> list[LedgerTransaction]:
    """Entries for money given back to the buyer by a refund or a lost dispute.

    What is still in escrow pays it first. Money already paid out of escrow (to the
    seller or as the fee) cannot come from there, so the rest is booked as a loss the
    platform absorbs.
    """
    refund_key = f"{source}:{source_id}"
    loss_key = f"{source}_loss:{source_id}"
    if amount <= 0 or refund_key in current.keys or loss_key in current.keys:
        return []
    from_escrow = min(amount, current.escrow_held)
    transactions = []
    if from_escrow > 0:
        transactions.append(
            ledger.refund(key=refund_key, amount=from_escrow, external_ref=source_id)
        )
    if amount > from_escrow:
        transactions.append(
            ledger.chargeback(key=loss_key, amount=amount - from_escrow, external_ref=source_id)
        )
    return transactions

"""Split of a purchase total into the platform fee and the seller's escrow amount."""

from __future__ import annotations

from dataclasses import dataclass

from taskgo.money import MAX_CHARGE_CENTAVOS, fee_centavos

# Stripe rejects a BRL charge below R$ 0,50 or longer than eight digits (its PaymentIntent
# `amount` reference), so such totals are rejected before an intent is created.
MIN_TOTAL_CENTAVOS = 50
MAX_TOTAL_CENTAVOS = MAX_CHARGE_CENTAVOS


@dataclass(frozen=True)
class FeeSplit:
    """Amounts in centavos; `fee + escrow == total` always holds."""

    total: int
    fee: int
    escrow: int
    fee_bps: int


def split_total(total: int, *, fee_bps: int) -> FeeSplit:
    """Take `fee_bps` basis points (500 = 5 %) of `total`, rounded half-up to the centavo."""
    if total < 0:
        raise ValueError(f"total must not be negative, got {total}")
    if not 0 <= fee_bps <= 10_000:
        raise ValueError(f"fee_bps must be within 0..10000, got {fee_bps}")
    fee = fee_centavos(total, fee_bps)
    return FeeSplit(total=total, fee=fee, escrow=total - fee, fee_bps=fee_bps)

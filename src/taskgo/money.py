"""Money as integer centavos (BRL), parsed exactly from decimal strings or numbers."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Context, Decimal, Inexact, InvalidOperation, Overflow
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

from taskgo.i18n import Amount

# The largest amount of one card charge: Stripe rejects a BRL amount longer than eight
# digits of centavos (its PaymentIntent `amount` reference). A higher price could never be
# paid, because one unit would already be more than one purchase may charge.
MAX_CHARGE_CENTAVOS = 99_999_999  # R$ 999,999.99
MAX_PRICE_CENTAVOS = MAX_CHARGE_CENTAVOS

# Amounts arrive as text from clients: a bound on their length keeps parsing cheap, and
# a value with more integer digits than this is out of range whatever the maximum.
_MAX_AMOUNT_CHARS = 64
_MAX_INTEGER_DIGITS = 18
# Exact arithmetic: any rounding or overflow raises instead of silently changing the value.
_EXACT = Context(
    prec=40,
    Emax=_MAX_INTEGER_DIGITS + 3,
    Emin=-999_999,
    traps=[Inexact, Overflow, InvalidOperation],
)
# A decimal number in ASCII digits, with optional sign and exponent. Decimal() alone also
# reads "1_000" and non-ASCII digits such as "١٢" or full-width "１０" as numbers.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_centavos(value: Any, *, minimum: int = 1, maximum: int = MAX_PRICE_CENTAVOS) -> int:
    """Convert `"19.99"`, `19.99` or `20` to centavos (1999), never through a float.

    Raises PydanticCustomError with a dotted code so the API reports the field. The limits
    in its context are `Amount`s, which the message writes in its language's number format.
    """
    if isinstance(value, bool) or value is None:
        raise PydanticCustomError("money.invalid", "invalid amount")
    if isinstance(value, float):
        # repr() gives the shortest string that round-trips, so 19.99 stays "19.99".
        text = repr(value)
    elif isinstance(value, int | Decimal):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
        if "," in text:
            raise PydanticCustomError("money.decimal_comma", "use a dot as decimal separator")
        if _PLAIN_NUMBER.fullmatch(text) is None:
            raise PydanticCustomError("money.invalid", "invalid amount")
    else:
        raise PydanticCustomError("money.invalid", "invalid amount")
    if len(text) > _MAX_AMOUNT_CHARS:
        raise PydanticCustomError("money.invalid", "invalid amount")

    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise PydanticCustomError("money.invalid", "invalid amount") from None
    if not amount.is_finite():
        raise PydanticCustomError("money.invalid", "invalid amount")
    # Range first: huge exponents ("1e999999999") or long coefficients overflow the
    # decimal context in the arithmetic below, which raises instead of rounding.
    if amount.adjusted() > _MAX_INTEGER_DIGITS:
        raise PydanticCustomError(
            "money.too_large", "amount too large", {"maximum": Amount(maximum)}
        )
    try:
        scaled = amount.scaleb(2, _EXACT)
    except ArithmeticError:  # Inexact, because the amount has digits below the centavo
        raise PydanticCustomError("money.too_many_decimals", "at most two decimal places") from None
    if scaled != scaled.to_integral_value():
        raise PydanticCustomError("money.too_many_decimals", "at most two decimal places")

    centavos = int(scaled)
    if centavos < minimum:
        raise PydanticCustomError(
            "money.too_small", "amount too small", {"minimum": Amount(minimum)}
        )
    if centavos > maximum:
        raise PydanticCustomError(
            "money.too_large", "amount too large", {"maximum": Amount(maximum)}
        )
    return centavos


def format_centavos(centavos: int) -> str:
    """Render centavos as the API's decimal string: 1999 → "19.99", -5 → "-0.05"."""
    sign = "-" if centavos < 0 else ""
    whole, cents = divmod(abs(centavos), 100)
    return f"{sign}{whole}.{cents:02d}"


def fee_centavos(total: int, basis_points: int) -> int:
    """Platform fee of `total` at `basis_points` (500 = 5 %), rounded half-up to the centavo."""
    fee = (Decimal(total) * basis_points / Decimal(10_000)).quantize(
        Decimal(1), rounding=ROUND_HALF_UP
    )
    return int(fee)


Price = Annotated[
    int, BeforeValidator(parse_centavos), PlainSerializer(format_centavos, return_type=str)
]
"""A positive amount up to R$ 999,999.99 in requests; a `"100.00"` string in responses."""

MoneyOut = Annotated[int, PlainSerializer(format_centavos, return_type=str)]
"""Centavos rendered as a `"100.00"` string in responses."""

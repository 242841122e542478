"""Money as integer centavos (BRL), parsed exactly from decimal strings or numbers."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

MAX_PRICE_CENTAVOS = 100_000_000  # R$ 1,000,000.00


def parse_centavos(value: Any, *, minimum: int = 1, maximum: int = MAX_PRICE_CENTAVOS) -> int:
    """Convert `"19.99"`, `19.99` or `20` to centavos (1999), never through a float.

    Raises PydanticCustomError with a dotted code so the API reports the field.
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
    else:
        raise PydanticCustomError("money.invalid", "invalid amount")

    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise PydanticCustomError("money.invalid", "invalid amount") from None
    if not amount.is_finite():
        raise PydanticCustomError("money.invalid", "invalid amount")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and amount != amount.quantize(Decimal("0.01")):
        raise PydanticCustomError("money.too_many_decimals", "at most two decimal places")

    centavos = int((amount * 100).to_integral_value())
    if centavos < minimum:
        raise PydanticCustomError(
            "money.too_small", "amount too small", {"minimum": format_centavos(minimum)}
        )
    if centavos > maximum:
        raise PydanticCustomError(
            "money.too_large", "amount too large", {"maximum": format_centavos(maximum)}
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
"""A positive amount up to R$ 1,000,000 in requests; a `"100.00"` string in responses."""

MoneyOut = Annotated[int, PlainSerializer(format_centavos, return_type=str)]
"""Centavos rendered as a `"100.00"` string in responses."""

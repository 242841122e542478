"""Centavo parsing and fee rounding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic_core import PydanticCustomError

from taskgo.money import fee_centavos, format_centavos, parse_centavos


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("19.99", 1999),
        (19.99, 1999),
        ("0.01", 1),
        (20, 2000),
        ("1000000", 100_000_000),
        ("5.10", 510),
        (0.1, 10),
        ("19.990", 1999),
        ("1.5e1", 1500),
        ("1E+2", 10_000),
    ],
)
def test_parse_exact(value: object, expected: int) -> None:
    assert parse_centavos(value) == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("19.999", "money.too_many_decimals"),
        ("0", "money.too_small"),
        ("-1.00", "money.too_small"),
        ("1000000.01", "money.too_large"),
        ("19,99", "money.decimal_comma"),
        ("abc", "money.invalid"),
        ("NaN", "money.invalid"),
        ("Infinity", "money.invalid"),
        (True, "money.invalid"),
        # Values whose decimal arithmetic overflows or exceeds the context precision
        # used to escape as decimal exceptions (a 500) instead of a field error.
        ("1e999999999", "money.too_large"),
        ("123456789012345678901234567890.001", "money.too_large"),
        ("1e-999999999", "money.too_many_decimals"),
        ("0." + "0" * 40 + "1", "money.too_many_decimals"),
        (1e308, "money.too_large"),
        (5e-324, "money.too_many_decimals"),
        ("9" * 200, "money.invalid"),
        # Decimal() reads these as numbers, a client form should not.
        ("1_000", "money.invalid"),
        ("\u0661\u0662", "money.invalid"),
        ("\uff11\uff10", "money.invalid"),
        ("1 000", "money.invalid"),
        ("0x10", "money.invalid"),
    ],
)
def test_parse_rejects(value: object, code: str) -> None:
    with pytest.raises(PydanticCustomError) as caught:
        parse_centavos(value)
    assert caught.value.type == code


@pytest.mark.parametrize(
    ("centavos", "text"), [(1999, "19.99"), (5, "0.05"), (0, "0.00"), (-5, "-0.05")]
)
def test_format(centavos: int, text: str) -> None:
    assert format_centavos(centavos) == text


@pytest.mark.parametrize(("total", "fee"), [(10000, 500), (10, 1), (9, 0), (30, 2), (1999, 100)])
def test_fee_half_up(total: int, fee: int) -> None:
    assert fee_centavos(total, 500) == fee


@given(st.integers(min_value=1, max_value=100_000_000), st.integers(min_value=0, max_value=10_000))
def test_fee_never_exceeds_total(total: int, bps: int) -> None:
    fee = fee_centavos(total, bps)
    assert 0 <= fee <= total

"""Centavo parsing and fee rounding."""

from __future__ import annotations

from typing import Annotated

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, BeforeValidator, ValidationError
from pydantic_core import PydanticCustomError

from taskgo.errors import AppError, describe_validation_errors
from taskgo.i18n import set_current_locale
from taskgo.money import Price, fee_centavos, format_centavos, parse_centavos


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("19.99", 1999),
        (19.99, 1999),
        ("0.01", 1),
        (20, 2000),
        ("999999.99", 99_999_999),
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
        ("1000000.00", "money.too_large"),
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


def _up_to(maximum: int) -> BeforeValidator:
    return BeforeValidator(lambda value: parse_centavos(value, maximum=maximum))


class _Amounts(BaseModel):
    price: Price = 100
    total: Annotated[int, _up_to(5_000_000)] = 100


@pytest.mark.parametrize(
    ("locale", "body", "message"),
    [
        ("pt_BR", {"price": "0"}, "O campo price deve ser de pelo menos R$ 0,01."),
        ("en", {"price": "0"}, "The field price must be at least R$ 0.01."),
        ("pt_BR", {"price": "1e9"}, "O campo price deve ser de no máximo R$ 999.999,99."),
        ("en", {"price": "1e9"}, "The field price must be at most R$ 999,999.99."),
        ("pt_BR", {"total": "50000.01"}, "O campo total deve ser de no máximo R$ 50.000,00."),
        ("en", {"total": "50000.01"}, "The field total must be at most R$ 50,000.00."),
        # Past 18 integer digits the check runs before the arithmetic, with the same text.
        ("en", {"total": "1e30"}, "The field total must be at most R$ 50,000.00."),
    ],
)
def test_limit_in_message_locale(locale: str, body: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _Amounts.model_validate(body)

    set_current_locale(locale)
    try:
        [described] = describe_validation_errors(caught.value.errors())
    finally:
        set_current_locale("pt_BR")

    assert described["message"] == message


def test_limit_as_error_parameter() -> None:
    # Routes that check an amount themselves pass the error's context on to AppError.
    with pytest.raises(PydanticCustomError) as caught:
        parse_centavos("-1", minimum=0)
    error = AppError(caught.value.type, field="minPrice", **(caught.value.context or {}))

    assert error.message("pt_BR") == "O campo minPrice deve ser de pelo menos R$ 0,00."
    assert error.message("en") == "The field minPrice must be at least R$ 0.00."

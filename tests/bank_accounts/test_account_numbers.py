from collections.abc import Callable
from typing import Any

import pytest

from taskgo.bank_accounts.account_numbers import (
    NumberWithDigit,
    account_identity,
    normalize_account,
    normalize_agency,
)
from taskgo.bank_accounts.exceptions import InvalidValue


@pytest.mark.parametrize(
    ("number", "digit", "expected"),
    [
        ("1234", None, NumberWithDigit("1234", None)),
        ("1", None, NumberWithDigit("0001", None)),
        ("0001", None, NumberWithDigit("0001", None)),
        ("1234", "5", NumberWithDigit("1234", "5")),
        ("1234-x", None, NumberWithDigit("1234", "X")),
        ("1234-5", "5", NumberWithDigit("1234", "5")),
        (" 1.234 ", "", NumberWithDigit("1234", None)),
    ],
)
def test_agency_normalized(number: str, digit: str | None, expected: NumberWithDigit) -> None:
    assert normalize_agency(number, digit) == expected


@pytest.mark.parametrize(
    ("number", "digit", "code"),
    [
        ("12345", None, "bank_account.agency_invalid"),
        ("0000", None, "bank_account.agency_invalid"),
        ("12a4", None, "bank_account.agency_invalid"),
        ("", None, "bank_account.agency_invalid"),
        ("1234-5-6", None, "bank_account.agency_invalid"),
        ("1234", "55", "bank_account.agency_digit_invalid"),
        ("1234", "Y", "bank_account.agency_digit_invalid"),
        ("1234-5", "6", "bank_account.agency_digit_conflict"),
    ],
)
def test_agency_rejected(number: str, digit: str | None, code: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        normalize_agency(number, digit)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("number", "digit", "expected"),
    [
        ("12345", "6", NumberWithDigit("12345", "6")),
        ("12345-6", None, NumberWithDigit("12345", "6")),
        ("0012345-x", None, NumberWithDigit("0012345", "X")),
        ("1.234.567", "0", NumberWithDigit("1234567", "0")),
        ("1" * 20, "1", NumberWithDigit("1" * 20, "1")),
    ],
)
def test_account_normalized(number: str, digit: str | None, expected: NumberWithDigit) -> None:
    assert normalize_account(number, digit) == expected


@pytest.mark.parametrize(
    ("number", "digit", "code"),
    [
        ("12345", None, "bank_account.account_digit_missing"),
        ("12345", "", "bank_account.account_digit_missing"),
        ("1" * 21, "1", "bank_account.account_invalid"),
        ("000000", "1", "bank_account.account_invalid"),
        ("12A45", "1", "bank_account.account_invalid"),
        ("12345", "12", "bank_account.account_digit_invalid"),
        ("12345-6", "7", "bank_account.account_digit_conflict"),
    ],
)
def test_account_rejected(number: str, digit: str | None, code: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        normalize_account(number, digit)
    assert caught.value.code == code


def test_account_identity_ignores_padding() -> None:
    padded = account_identity(bank_code="001", agency="0001", account="0012345", account_digit="6")
    bare = account_identity(bank_code="001", agency="0001", account="12345", account_digit="6")
    other_digit = account_identity(
        bank_code="001", agency="0001", account="12345", account_digit="7"
    )
    assert padded == bare
    assert other_digit != bare


@pytest.mark.parametrize(
    ("normalize", "number", "code"),
    [
        (normalize_agency, "١٢٣٤", "bank_account.agency_invalid"),
        (normalize_agency, "1²34", "bank_account.agency_invalid"),
        (normalize_account, "١٢٣٤٥-6", "bank_account.account_invalid"),
        (normalize_account, "12³45-6", "bank_account.account_invalid"),
    ],
)
def test_non_ascii_digits_rejected(normalize: Any, number: str, code: str) -> None:
    with pytest.raises(InvalidValue) as error:
        normalize(number)
    assert error.value.code == code


@pytest.mark.parametrize(
    ("normalize", "value", "max_digits"),
    [
        (normalize_agency, "1234-5-6", 4),
        (normalize_agency, "--", 4),
        (normalize_account, "--", 20),
        (normalize_account, "12-3-4", 20),
    ],
)
def test_extra_hyphen_names_max_digits(
    normalize: Callable[[str, str | None], NumberWithDigit], value: str, max_digits: int
) -> None:
    # The message of these codes shows {max_digits}; without it the placeholder showed.
    with pytest.raises(InvalidValue) as caught:
        normalize(value, None)
    assert caught.value.code.endswith("_invalid")
    assert caught.value.params == {"max_digits": max_digits}

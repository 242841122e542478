"""S10 tracking code normalization and check digit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskgo.errors import AppError
from taskgo.tracking.codes import is_valid_tracking_code, normalize_tracking_code, s10_check_digit


@pytest.mark.parametrize(
    ("serial", "digit"),
    [
        ("12345678", 5),  # weighted sum 204, remainder 6, so 11 - 6
        ("47312482", 9),  # weighted sum 200, remainder 2, so 11 - 2
        ("10000100", 9),  # weighted sum 13, remainder 2
        ("11000000", 8),  # weighted sum 14, remainder 3
        ("00000010", 2),  # weighted sum 9, remainder 9
        ("00000000", 5),  # remainder 0 gives 5
        ("00300000", 0),  # weighted sum 12, remainder 1 gives 0
    ],
)
def test_check_digit_known_values(serial: str, digit: int) -> None:
    assert s10_check_digit(serial) == digit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("RA123456785BR", "RA123456785BR"),
        ("ra123456785br", "RA123456785BR"),
        ("  RA 123 456 785 BR ", "RA123456785BR"),
        ("RA.123.456.785-BR", "RA123456785BR"),
        ("QP003000000BR", "QP003000000BR"),
        ("LB123456785CN", "LB123456785CN"),
        ("zz123456785us", "ZZ123456785US"),
    ],
)
def test_normalize_accepts_valid_codes(raw: str, expected: str) -> None:
    assert normalize_tracking_code(raw) == expected
    assert is_valid_tracking_code(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "RA123456784BR",  # wrong check digit
        "RA123456786BR",
        "RA12345678BR",  # seven serial digits plus a check digit
        "RA1234567855BR",  # one digit too many
        "R123456785BR",
        "RAA123456785BR",
        "RA123456785B",
        "1A123456785BR",
        "RA12345678XBR",
        "RA１23456785BR",  # full-width digit
        "RA123456785BR" * 10,
        "RA123456785BR\x00",
    ],
)
def test_normalize_rejects_invalid_codes(raw: str) -> None:
    with pytest.raises(AppError) as caught:
        normalize_tracking_code(raw)

    assert caught.value.code == "tracking.invalid_code"
    assert caught.value.status == 422
    assert caught.value.field == "trackingCode"
    assert not is_valid_tracking_code(raw)


def test_check_digit_rejects_bad_serial() -> None:
    with pytest.raises(ValueError, match="eight ASCII digits"):
        s10_check_digit("1234567")


@given(
    prefix=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2),
    serial=st.text(alphabet="0123456789", min_size=8, max_size=8),
    country=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2),
    wrong=st.integers(min_value=1, max_value=9),
)
def test_only_the_right_digit_passes(prefix: str, serial: str, country: str, wrong: int) -> None:
    digit = s10_check_digit(serial)
    good = f"{prefix}{serial}{digit}{country}"
    bad = f"{prefix}{serial}{(digit + wrong) % 10}{country}"

    assert normalize_tracking_code(good.lower()) == good
    assert not is_valid_tracking_code(bad)

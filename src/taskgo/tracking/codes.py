"""Validation of UPU S10 item identifiers, the tracking codes Correios prints on labels.

An S10 identifier is two service letters, an eight-digit serial number, one check digit
and the two-letter ISO country code of the issuing post (``BR`` for Correios), for
example ``AA123456785BR``.
"""

from __future__ import annotations

import re

from taskgo.errors import AppError

# UPU standard S10 weights for the eight serial digits.
_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)
_S10_PATTERN = re.compile(r"[A-Z]{2}[0-9]{9}[A-Z]{2}")
# Users paste codes from e-mails and labels, which add spaces, dots and dashes.
_SEPARATORS = re.compile(r"[\s.\-]+")
# Longer input is rejected before any regex work so a huge body costs nothing.
_MAX_RAW_LENGTH = 64


def s10_check_digit(serial: str) -> int:
    """Compute the S10 check digit of an eight-digit serial number."""
    if len(serial) != 8 or not serial.isascii() or not serial.isdigit():
        raise ValueError(f"S10 serial must be eight ASCII digits, got {serial!r}")
    total = sum(int(digit) * weight for digit, weight in zip(serial, _S10_WEIGHTS, strict=True))
    remainder = total % 11
    if remainder == 0:
        return 5
    if remainder == 1:
        return 0
    return 11 - remainder


def is_valid_tracking_code(value: str) -> bool:
    """Tell whether ``value`` normalizes to a valid S10 tracking code."""
    try:
        normalize_tracking_code(value)
    except AppError:
        return False
    return True


def normalize_tracking_code(value: str) -> str:
    """Normalize ``value`` to a canonical S10 code: upper case, separators removed.

    Any two-letter service prefix and any country suffix are accepted. Raises
    ``AppError("tracking.invalid_code")`` with status 422 on field ``trackingCode``
    when the length, the layout or the check digit is wrong.
    """
    if not isinstance(value, str) or len(value) > _MAX_RAW_LENGTH:
        raise _invalid(value)
    code = _SEPARATORS.sub("", value).upper()
    if not _S10_PATTERN.fullmatch(code):
        raise _invalid(value)
    if s10_check_digit(code[2:10]) != int(code[10]):
        raise _invalid(value)
    return code


def _invalid(value: object) -> AppError:
    truncated = value[:_MAX_RAW_LENGTH] if isinstance(value, str) else ""
    return AppError("tracking.invalid_code", status=422, field="trackingCode", value=truncated)

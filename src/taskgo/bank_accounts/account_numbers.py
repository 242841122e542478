"""Agency (branch) and account numbers with their check digits.

Agencies are 4-digit COMPE branch codes; accounts run up to 20 digits (the limit of the
account field in PIX and STR messages). The check digit is one character: a digit or, at
Banco do Brasil and a few others, the letter X, which stands for the value 10.

NOTE: the check digit is not verified against each bank's own algorithm. Those rules differ
per bank and are not all public, so a wrong rule would lock partners out of their accounts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from taskgo.bank_accounts.exceptions import InvalidValue

AGENCY_MAX_DIGITS = 4
ACCOUNT_MAX_DIGITS = 20

_IGNORED = re.compile(r"[\s.]")
_CHECK_DIGIT = re.compile(r"[0-9X]")
# ASCII only: str.isdigit() also takes "١٢٣" and "²", which no bank accepts.
_DIGITS = re.compile(r"[0-9]+")


class AccountType(StrEnum):
    CHECKING = "checking"
    SAVINGS = "savings"
    PAYMENT = "payment"


@dataclass(frozen=True, slots=True)
class NumberWithDigit:
    number: str
    digit: str | None


# The invalid-number messages tell how many digits the field takes.
_MAX_DIGITS = {"agency": AGENCY_MAX_DIGITS, "account": ACCOUNT_MAX_DIGITS}


def _split(value: str, digit: str | None, *, prefix: str) -> tuple[str, str | None]:
    """Split "1234-5" into its parts and reconcile it with a separately given digit."""
    text = _IGNORED.sub("", value).upper()
    separate = _IGNORED.sub("", digit).upper() if digit is not None else None
    if separate == "":
        separate = None

    if "-" in text:
        number, _, inline = text.partition("-")
        if "-" in inline:
            raise InvalidValue(f"bank_account.{prefix}_invalid", max_digits=_MAX_DIGITS[prefix])
        if separate is not None and separate != inline:
            raise InvalidValue(f"bank_account.{prefix}_digit_conflict")
        return number, inline
    return text, separate


def _check_digit(digit: str | None, *, prefix: str) -> str | None:
    if digit is None:
        return None
    if not _CHECK_DIGIT.fullmatch(digit):
        raise InvalidValue(f"bank_account.{prefix}_digit_invalid")
    return digit


def normalize_agency(value: str, digit: str | None = None) -> NumberWithDigit:
    """Normalize an agency to 4 digits (left-padded with zeros) and an optional check digit."""
    number, check = _split(value, digit, prefix="agency")
    if not _DIGITS.fullmatch(number) or len(number) > AGENCY_MAX_DIGITS or int(number) == 0:
        raise InvalidValue("bank_account.agency_invalid", max_digits=AGENCY_MAX_DIGITS)
    return NumberWithDigit(number.zfill(AGENCY_MAX_DIGITS), _check_digit(check, prefix="agency"))


def normalize_account(value: str, digit: str | None = None) -> NumberWithDigit:
    """Normalize an account number (digits, leading zeros kept) and its required check digit."""
    number, check = _split(value, digit, prefix="account")
    if not _DIGITS.fullmatch(number) or len(number) > ACCOUNT_MAX_DIGITS or int(number) == 0:
        raise InvalidValue("bank_account.account_invalid", max_digits=ACCOUNT_MAX_DIGITS)
    if check is None:
        raise InvalidValue("bank_account.account_digit_missing")
    return NumberWithDigit(number, _check_digit(check, prefix="account"))


def account_identity(*, bank_code: str, agency: str, account: str, account_digit: str) -> str:
    """Build the canonical text that identifies one account, for the duplicate blind index.

    Leading zeros are dropped because banks pad account numbers to different widths
    ("0012345" and "12345" are the same account in a transfer).
    """
    return f"{bank_code}:{agency}:{account.lstrip('0')}-{account_digit}"

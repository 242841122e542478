"""Check-digit rules for Brazilian documents, card numbers and phone numbers.

The redactor uses them to tell a CPF from a phone number when both are eleven bare digits,
and to accept a 14-character alphanumeric token as a CNPJ only when its check digits hold.
"""

from __future__ import annotations

import re

_CNPJ_FIRST_WEIGHTS = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_SECOND_WEIGHTS = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)

# Area codes (DDD) in use in Brazil.
_DDDS = frozenset(
    {
        11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38,
        41, 42, 43, 44, 45, 46, 47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68,
        69, 71, 73, 74, 75, 77, 79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95,
        96, 97, 98, 99,
    }
)  # fmt: skip


def _mod11_digit(total: int) -> int:
    remainder = total % 11
    return 0 if remainder < 2 else 11 - remainder


def cpf_check_digits(base: str) -> str:
    """Return the two check digits for the first nine digits of a CPF."""
    numbers = [int(char) for char in base]
    first = _mod11_digit(sum(n * w for n, w in zip(numbers, range(10, 1, -1), strict=True)))
    numbers.append(first)
    second = _mod11_digit(sum(n * w for n, w in zip(numbers, range(11, 1, -1), strict=True)))
    return f"{first}{second}"


def is_valid_cpf(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    if len(digits) != 11 or digits == digits[0] * 11:
        return False
    return cpf_check_digits(digits[:9]) == digits[9:]


def _cnpj_char_value(char: str) -> int:
    # The alphanumeric CNPJ (Receita Federal, from July 2026) maps each character to its
    # ASCII code minus 48, so digits keep their value and "A" is 17.
    return ord(char) - 48


def cnpj_check_digits(base: str) -> str:
    """Return the two check digits for the first twelve characters of a CNPJ.

    Works for the numeric and the alphanumeric form; `base` must be upper case.
    """
    values = [_cnpj_char_value(char) for char in base]
    first = _mod11_digit(sum(v * w for v, w in zip(values, _CNPJ_FIRST_WEIGHTS, strict=True)))
    values.append(first)
    second = _mod11_digit(sum(v * w for v, w in zip(values, _CNPJ_SECOND_WEIGHTS, strict=True)))
    return f"{first}{second}"


def is_valid_cnpj(value: str) -> bool:
    compact = re.sub(r"[.\-/\s]", "", value).upper()
    if len(compact) != 14 or not re.fullmatch(r"[0-9A-Z]{12}\d{2}", compact):
        return False
    if compact == compact[0] * 14:
        return False
    return cnpj_check_digits(compact[:12]) == compact[12:]


def is_luhn_valid(digits: str) -> bool:
    if not digits.isdigit() or len(digits) < 2:
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        number = int(char)
        if index % 2 == 1:
            number *= 2
            if number > 9:
                number -= 9
        total += number
    return total % 10 == 0


def looks_like_br_phone(digits: str) -> bool:
    """Tell whether bare digits form a Brazilian phone number, with or without +55."""
    if digits.startswith("55") and len(digits) in (12, 13):
        digits = digits[2:]
    if digits.startswith("0") and len(digits) in (11, 12):
        digits = digits[1:]
    if len(digits) not in (10, 11) or int(digits[:2]) not in _DDDS:
        return False
    subscriber = digits[2:]
    if len(subscriber) == 9:
        return subscriber[0] == "9"
    return subscriber[0] in "2345"

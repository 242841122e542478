"""CPF and CNPJ parsing: normalization, check digits, formatting.

CPF: 11 digits, two mod-11 check digits. CNPJ: 14 characters; since July 2026 the Receita
Federal also issues alphanumeric CNPJs whose first 12 characters are 0-9 or A-Z. The check
digits stay numeric and are computed with each character valued at its ASCII code minus 48,
so digits keep their value (A=17, B=18, ... Z=42) and numeric CNPJs validate as before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from taskgo.bank_accounts.exceptions import InvalidValue

CPF_LENGTH = 11
CNPJ_LENGTH = 14

# Punctuation people type in documents: "123.456.789-09", "12.ABC.345/01DE-35".
_SEPARATORS = re.compile(r"[\s./-]")
# [0-9], not \d: \d also matches other scripts' digits, such as "٥٢٩".
_CPF_BODY = re.compile(r"[0-9]{11}")
_CNPJ_BODY = re.compile(r"[0-9A-Z]{12}[0-9]{2}")

_CPF_WEIGHTS_FIRST = tuple(range(10, 1, -1))
_CPF_WEIGHTS_SECOND = tuple(range(11, 1, -1))
_CNPJ_WEIGHTS_FIRST = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_WEIGHTS_SECOND = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)


class DocumentType(StrEnum):
    CPF = "cpf"
    CNPJ = "cnpj"


@dataclass(frozen=True, slots=True)
class Document:
    """A validated CPF or CNPJ in normalized form (bare, upper case)."""

    type: DocumentType
    number: str


def _mod11_digit(values: Sequence[int], weights: Sequence[int]) -> int:
    remainder = sum(value * weight for value, weight in zip(values, weights, strict=True)) % 11
    return 0 if remainder < 2 else 11 - remainder


def cpf_check_digits(base: str) -> str:
    """Compute the two check digits of the 9-digit CPF `base`."""
    if len(base) != 9 or not base.isdigit():
        raise ValueError("a CPF base is 9 digits")
    values = [int(char) for char in base]
    first = _mod11_digit(values, _CPF_WEIGHTS_FIRST)
    second = _mod11_digit([*values, first], _CPF_WEIGHTS_SECOND)
    return f"{first}{second}"


def cnpj_check_digits(base: str) -> str:
    """Compute the two check digits of the 12-character CNPJ `base` (0-9, A-Z)."""
    if len(base) != 12 or not re.fullmatch(r"[0-9A-Z]{12}", base):
        raise ValueError("a CNPJ base is 12 characters from 0-9 and A-Z")
    values = [ord(char) - 48 for char in base]
    first = _mod11_digit(values, _CNPJ_WEIGHTS_FIRST)
    second = _mod11_digit([*values, first], _CNPJ_WEIGHTS_SECOND)
    return f"{first}{second}"


def strip_separators(value: str) -> str:
    return _SEPARATORS.sub("", value).upper()


def normalize_cpf(value: str) -> str:
    """Return the bare 11-digit CPF or raise `InvalidValue("bank_account.cpf_invalid")`.

    Numbers made of one repeated digit (000.000.000-00, 111.111.111-11, ...) pass the
    check-digit test but are never issued, so they are rejected too.
    """
    number = strip_separators(value)
    if not _CPF_BODY.fullmatch(number):
        raise InvalidValue("bank_account.cpf_invalid")
    if len(set(number)) == 1:
        raise InvalidValue("bank_account.cpf_invalid")
    if cpf_check_digits(number[:9]) != number[9:]:
        raise InvalidValue("bank_account.cpf_invalid")
    return number


def normalize_cnpj(value: str) -> str:
    """Return the bare 14-character upper-case CNPJ or raise `bank_account.cnpj_invalid`.

    A base of one repeated character (00.000.000/0000-00) is rejected like the CPF case.
    """
    number = strip_separators(value)
    if not _CNPJ_BODY.fullmatch(number):
        raise InvalidValue("bank_account.cnpj_invalid")
    if len(set(number[:12])) == 1:
        raise InvalidValue("bank_account.cnpj_invalid")
    if cnpj_check_digits(number[:12]) != number[12:]:
        raise InvalidValue("bank_account.cnpj_invalid")
    return number


def parse_document(value: str) -> Document:
    """Parse a CPF or CNPJ, telling them apart by length once separators are removed."""
    number = strip_separators(value)
    if len(number) == CPF_LENGTH:
        return Document(DocumentType.CPF, normalize_cpf(number))
    if len(number) == CNPJ_LENGTH:
        return Document(DocumentType.CNPJ, normalize_cnpj(number))
    raise InvalidValue("bank_account.document_invalid")


def format_cpf(number: str) -> str:
    return f"{number[:3]}.{number[3:6]}.{number[6:9]}-{number[9:]}"


def format_cnpj(number: str) -> str:
    return f"{number[:2]}.{number[2:5]}.{number[5:8]}/{number[8:12]}-{number[12:]}"

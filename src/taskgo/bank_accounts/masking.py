"""Masked forms of the secrets this package stores, for API responses.

A masked value shows just enough for the owner to recognise it and never enough to use it.
A CPF keeps its middle block (the common Brazilian display) and a CNPJ the start of its
root. An account keeps its last digits, an e-mail its first letter and domain, a phone its
last four digits, and a random key its first and last four characters.
"""

from __future__ import annotations

from taskgo.bank_accounts.documents import CNPJ_LENGTH, CPF_LENGTH, DocumentType
from taskgo.bank_accounts.pix import PixKeyType

MASK = "*"


def mask_cpf(number: str) -> str:
    """Mask a bare CPF as ***.456.789-**."""
    if len(number) != CPF_LENGTH:
        return MASK * 3
    return f"***.{number[3:6]}.{number[6:9]}-**"


def mask_cnpj(number: str) -> str:
    """Mask a bare CNPJ as 12.ABC.***/****-**, keeping the first five characters of the root."""
    if len(number) != CNPJ_LENGTH:
        return MASK * 3
    return f"{number[:2]}.{number[2:5]}.***/****-**"


def mask_document(document_type: DocumentType, number: str) -> str:
    if document_type is DocumentType.CPF:
        return mask_cpf(number)
    return mask_cnpj(number)


def mask_account_number(number: str, digit: str | None = None) -> str:
    """Show the last 4 digits (fewer for short numbers, never more than half)."""
    visible = min(4, len(number) // 2)
    masked = MASK * (len(number) - visible) + number[len(number) - visible :]
    return f"{masked}-{digit}" if digit else masked


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}{MASK * 3}@{domain}"


def mask_phone(e164: str) -> str:
    """Mask +5511987654321 as +55 11 *****-4321."""
    return f"{e164[:3]} {e164[3:5]} {MASK * 5}-{e164[-4:]}"


def mask_random_key(key: str) -> str:
    """Mask a UUID key, keeping its first and last four characters and its hyphens."""
    return "".join(
        char if index < 4 or index >= len(key) - 4 or char == "-" else MASK
        for index, char in enumerate(key)
    )


def mask_pix_key(key_type: PixKeyType, value: str) -> str:
    if key_type is PixKeyType.CPF:
        return mask_cpf(value)
    if key_type is PixKeyType.CNPJ:
        return mask_cnpj(value)
    if key_type is PixKeyType.EMAIL:
        return mask_email(value)
    if key_type is PixKeyType.PHONE:
        return mask_phone(value)
    return mask_random_key(value)

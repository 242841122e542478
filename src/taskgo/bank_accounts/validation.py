"""Turn a create request into validated, normalized values, or one error naming each field.

Every field is checked before any error is raised, so the client sees all the problems of a
form at once in `details.errors`. The top-level code and field are those of the first one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from taskgo.bank_accounts.account_numbers import (
    AccountType,
    NumberWithDigit,
    normalize_account,
    normalize_agency,
)
from taskgo.bank_accounts.banks import Bank, get_bank
from taskgo.bank_accounts.documents import Document, DocumentType, parse_document
from taskgo.bank_accounts.exceptions import InvalidValue
from taskgo.bank_accounts.models import HOLDER_NAME_MAX_LENGTH
from taskgo.bank_accounts.pix import PixKey, parse_pix_key
from taskgo.bank_accounts.schemas import BankAccountCreate
from taskgo.errors import AppError
from taskgo.i18n import translate

HOLDER_NAME_MIN_LENGTH = 3

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ValidatedAccount:
    holder_name: str
    holder_document: Document
    bank: Bank
    agency: NumberWithDigit
    account: NumberWithDigit
    account_type: AccountType
    pix_key: PixKey | None


# Check-digit failures name the digit field, though the number and digit come in together
# when the client writes "12345-6" in `account`.
_DIGIT_FIELDS = {
    "bank_account.agency_digit_invalid": "agencyDigit",
    "bank_account.agency_digit_conflict": "agencyDigit",
    "bank_account.account_digit_invalid": "accountDigit",
    "bank_account.account_digit_conflict": "accountDigit",
    "bank_account.account_digit_missing": "accountDigit",
}


class _Collector:
    def __init__(self) -> None:
        self.errors: list[tuple[str, InvalidValue]] = []

    def add(self, field: str, error: InvalidValue) -> None:
        self.errors.append((_DIGIT_FIELDS.get(error.code, field), error))

    def check(self, field: str, parse: Callable[[], T]) -> T | None:
        try:
            return parse()
        except InvalidValue as error:
            self.add(field, error)
            return None

    def raise_if_any(self) -> None:
        if not self.errors:
            return
        described: list[dict[str, Any]] = [
            {"field": field, "code": error.code, "message": translate(error.code, **error.params)}
            for field, error in self.errors
        ]
        field, first = self.errors[0]
        raise AppError(first.code, field=field, details={"errors": described}, **first.params)


def normalize_holder_name(value: str, *, document_type: DocumentType | None) -> str:
    """Collapse whitespace and check length and characters of the account holder's name.

    A company name (CNPJ holder) may contain digits ("Oficina 2 Irmãos Ltda"); a person's
    name may not.
    """
    name = " ".join(unicodedata.normalize("NFC", value).split())
    invalid = InvalidValue(
        "bank_account.holder_name_invalid",
        min_length=HOLDER_NAME_MIN_LENGTH,
        max_length=HOLDER_NAME_MAX_LENGTH,
    )
    if not HOLDER_NAME_MIN_LENGTH <= len(name) <= HOLDER_NAME_MAX_LENGTH:
        raise invalid
    if sum(char.isalpha() for char in name) < 2:
        raise invalid
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise invalid
    if document_type is DocumentType.CPF and re.search(r"\d", name):
        raise invalid
    return name


def validate_create(data: BankAccountCreate) -> ValidatedAccount:
    collector = _Collector()

    document = collector.check("holderDocument", lambda: parse_document(data.holder_document))
    holder_name = collector.check(
        "accountHolder",
        lambda: normalize_holder_name(
            data.account_holder, document_type=document.type if document else None
        ),
    )
    bank = collector.check("bank", lambda: get_bank(data.bank))
    agency = collector.check("agency", lambda: normalize_agency(data.agency, data.agency_digit))
    account = collector.check(
        "account", lambda: normalize_account(data.account, data.account_digit)
    )

    pix_key: PixKey | None = None
    pix_text = (data.pix_key or "").strip()
    if pix_text:
        pix_key = collector.check(
            "pixKey", lambda: parse_pix_key(pix_text, key_type=data.pix_key_type)
        )
    elif data.pix_key_type is not None:
        collector.add("pixKey", InvalidValue("bank_account.pix_key_type_without_key"))

    collector.raise_if_any()
    # raise_if_any() raised unless every parser returned a value.
    assert document is not None
    assert holder_name is not None
    assert bank is not None
    assert agency is not None
    assert account is not None
    return ValidatedAccount(
        holder_name=holder_name,
        holder_document=document,
        bank=bank,
        agency=agency,
        account=account,
        account_type=data.account_type,
        pix_key=pix_key,
    )

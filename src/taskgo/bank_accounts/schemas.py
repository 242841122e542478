"""Request and response bodies of the bank account routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from taskgo.bank_accounts.account_numbers import AccountType
from taskgo.bank_accounts.pix import PixKeyType
from taskgo.schemas import ApiModel

# Generous bounds on raw input; the parsers apply the real rules after normalization.
_RAW_SHORT = 40
_RAW_NAME = 200
_RAW_PIX_KEY = 120


def _bank_code_text(value: object) -> str:
    """Take the COMPE code as text or as a JSON integer (1 for "001")."""
    # A `str | int` union let `true` through as the integer 1, so Banco do Brasil, and
    # named its failures after the union members (`bank.constrained-str`).
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value
    raise PydanticCustomError("bank_account.bank_invalid", "the bank must be a COMPE code")


# The limit comes before the validator, so that it applies to the text the validator returns
# like any string limit.
BankCode = Annotated[
    str,
    Field(max_length=_RAW_SHORT),
    BeforeValidator(_bank_code_text),
    WithJsonSchema({"anyOf": [{"type": "string", "maxLength": _RAW_SHORT}, {"type": "integer"}]}),
]


class BankAccountCreate(ApiModel):
    account_holder: str = Field(max_length=_RAW_NAME, description="Holder name as the bank has it.")
    holder_document: str = Field(
        max_length=_RAW_SHORT, description="Holder CPF or CNPJ, bare or formatted."
    )
    bank: BankCode = Field(description="3-digit COMPE code of the bank, e.g. 001.")
    agency: str = Field(max_length=_RAW_SHORT, description="Agency number, optionally '1234-5'.")
    agency_digit: str | None = Field(default=None, max_length=_RAW_SHORT)
    account: str = Field(max_length=_RAW_SHORT, description="Account number, optionally '12345-6'.")
    account_digit: str | None = Field(default=None, max_length=_RAW_SHORT)
    account_type: AccountType
    pix_key: str | None = Field(default=None, max_length=_RAW_PIX_KEY)
    pix_key_type: PixKeyType | None = Field(
        default=None, description="Required when the key could be two types (11 bare digits)."
    )


class BankOut(ApiModel):
    code: str
    ispb: str
    name: str
    short_name: str


class ReviewReasonOut(ApiModel):
    code: str
    message: str


class BankAccountOut(ApiModel):
    """A bank account as its owner sees it: every secret masked."""

    id: uuid.UUID
    account_holder: str
    holder_document: str
    holder_document_type: str
    bank: BankOut
    agency: str
    agency_digit: str | None
    account: str
    account_type: AccountType
    pix_key: str | None
    pix_key_type: PixKeyType | None
    is_primary: bool
    review_status: str
    review_reasons: list[ReviewReasonOut]
    created_at: datetime


class BankAccountAdminOut(BankAccountOut):
    user_id: uuid.UUID
    reviewed_by: uuid.UUID | None
    reviewed_at: datetime | None


class ReviewDecision(ApiModel):
    approve: bool
    note: str | None = Field(default=None, max_length=500)

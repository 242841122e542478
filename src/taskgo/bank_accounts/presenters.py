"""Build API views of bank accounts: decrypt, then mask every secret."""

from __future__ import annotations

from taskgo.bank_accounts import sealing
from taskgo.bank_accounts.account_numbers import AccountType
from taskgo.bank_accounts.banks import find_bank
from taskgo.bank_accounts.documents import DocumentType
from taskgo.bank_accounts.masking import mask_account_number, mask_document, mask_pix_key
from taskgo.bank_accounts.models import BankAccount
from taskgo.bank_accounts.pix import PixKeyType
from taskgo.bank_accounts.schemas import (
    BankAccountAdminOut,
    BankAccountOut,
    BankOut,
    ReviewReasonOut,
)
from taskgo.i18n import translate


def _bank_out(account: BankAccount) -> BankOut:
    bank = find_bank(account.bank_code)
    if bank is None:
        # A code dropped from a newer bank list still shows, with the ISPB stored at creation.
        return BankOut(code=account.bank_code, ispb=account.bank_ispb, name="", short_name="")
    return BankOut(
        code=bank.code, ispb=account.bank_ispb, name=bank.name, short_name=bank.short_name
    )


def _fields(account: BankAccount) -> dict[str, object]:
    document_type = DocumentType(account.holder_document_type)
    document = sealing.unseal(
        account.id, sealing.HOLDER_DOCUMENT, account.holder_document_encrypted
    )
    number, _, digit = sealing.unseal(
        account.id, sealing.ACCOUNT, account.account_encrypted
    ).partition("-")

    pix_type = PixKeyType(account.pix_key_type) if account.pix_key_type else None
    pix_masked = None
    if pix_type is not None and account.pix_key_encrypted is not None:
        pix_value = sealing.unseal(account.id, sealing.PIX_KEY, account.pix_key_encrypted)
        pix_masked = mask_pix_key(pix_type, pix_value)

    reasons = [
        ReviewReasonOut(code=reason, message=translate(f"bank_account.review.{reason}"))
        for reason in account.review_reasons
    ]
    return {
        "id": account.id,
        "account_holder": account.holder_name,
        "holder_document": mask_document(document_type, document),
        "holder_document_type": document_type.value,
        "bank": _bank_out(account),
        "agency": account.agency,
        "agency_digit": account.agency_digit,
        "account": mask_account_number(number, digit or None),
        "account_type": AccountType(account.account_type),
        "pix_key": pix_masked,
        "pix_key_type": pix_type,
        "is_primary": account.is_primary,
        "review_status": account.review_status,
        "review_reasons": reasons,
        "created_at": account.created_at,
    }


def present(account: BankAccount) -> BankAccountOut:
    return BankAccountOut.model_validate(_fields(account))


def present_for_admin(account: BankAccount) -> BankAccountAdminOut:
    return BankAccountAdminOut.model_validate(
        {
            **_fields(account),
            "user_id": account.user_id,
            "reviewed_by": account.reviewed_by,
            "reviewed_at": account.reviewed_at,
        }
    )

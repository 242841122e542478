"""Sealing and fingerprinting of the secret columns, and the holder check against the CPF
that identity verification stored on the user.

Each ciphertext binds the row id and column as associated data, so a token copied into
another row or column fails to decrypt instead of showing someone else's data.
"""

from __future__ import annotations

import uuid

import structlog

from taskgo.bank_accounts.documents import normalize_cpf
from taskgo.bank_accounts.exceptions import InvalidValue
from taskgo.crypto import FieldDecryptionError, blind_index, decrypt_field, encrypt_field
from taskgo.users.models import User, VerificationStatus

log = structlog.get_logger(__name__)

HOLDER_DOCUMENT = "holder_document"
ACCOUNT = "account"
PIX_KEY = "pix_key"

# Fingerprint contexts carry no user id, so the same account or key registered by two
# partners yields the same fingerprint (the shared-account fraud check relies on this).
ACCOUNT_INDEX_CONTEXT = "bank_accounts.account_identity"
PIX_KEY_INDEX_CONTEXT = "bank_accounts.pix_key"


def _context(account_id: uuid.UUID, column: str) -> str:
    return f"bank_accounts.{column}:{account_id}"


def seal(account_id: uuid.UUID, column: str, value: str) -> str:
    return encrypt_field(value, context=_context(account_id, column))


def unseal(account_id: uuid.UUID, column: str, token: str) -> str:
    return decrypt_field(token, context=_context(account_id, column))


def account_fingerprint(identity: str) -> str:
    return blind_index(identity, context=ACCOUNT_INDEX_CONTEXT)


def pix_key_fingerprint(key_type: str, value: str) -> str:
    return blind_index(f"{key_type}:{value}", context=PIX_KEY_INDEX_CONTEXT)


# Associated data that identity verification binds to `users.verified_cpf_encrypted`.
VERIFIED_CPF_CONTEXT = "users.verified_cpf"


def verified_cpf(user: User) -> str | None:
    """Return the user's verified CPF (11 digits), or None when there is none to compare with."""
    if user.verification_status != VerificationStatus.VERIFIED or not user.verified_cpf_encrypted:
        return None
    try:
        return normalize_cpf(
            decrypt_field(user.verified_cpf_encrypted, context=VERIFIED_CPF_CONTEXT)
        )
    except (FieldDecryptionError, InvalidValue) as error:
        # Treated as unverified, so the account goes to review instead of failing the request.
        log.warning(
            "bank_account.verified_cpf_unreadable", user_id=str(user.id), error=type(error).__name__
        )
        return None

"""Partner bank account rules: create, list, delete, choose the primary account.

Writes for one partner are serialized by a transaction-scoped advisory lock, so "is this the
first account?" and "which account is primary?" are checked against committed data. The
partial unique index `uq_bank_accounts_one_primary` stays the last guarantee: should two
writers ever get past the lock, the database rejects the second primary and the request
fails with a retryable 409 instead of leaving two primaries.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.admin.service import record_audit
from taskgo.bank_accounts import sealing
from taskgo.bank_accounts.account_numbers import account_identity
from taskgo.bank_accounts.documents import DocumentType
from taskgo.bank_accounts.models import BankAccount, ReviewReason, ReviewStatus
from taskgo.bank_accounts.schemas import BankAccountCreate
from taskgo.bank_accounts.validation import ValidatedAccount, validate_create
from taskgo.crypto import blind_index
from taskgo.errors import AppError
from taskgo.pagination import apply_keyset, page_of
from taskgo.users.models import User

log = structlog.get_logger(__name__)

MAX_ACCOUNTS_PER_PARTNER = 10
AUDIT_TARGET = "bank_account"

# First key of the two-key advisory lock; the second is a hash of the partner id.
_LOCK_NAMESPACE = 0x0BA4C0


async def lock_partner_accounts(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Hold, until the transaction ends, the lock that serializes one partner's account writes."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:user_id))"),
        {"namespace": _LOCK_NAMESPACE, "user_id": str(user_id)},
    )


def _conflict_from(error: IntegrityError) -> AppError | None:
    """Map a unique-index violation of this table to its 409 error; None for anything else."""
    detail = str(error.orig)
    if "uq_bank_accounts_user_account" in detail:
        return AppError("bank_account.duplicate", status=409, field="account")
    if "uq_bank_accounts_user_pix_key" in detail:
        return AppError("bank_account.pix_key_duplicate", status=409, field="pixKey")
    if "uq_bank_accounts_one_primary" in detail:
        return AppError("bank_account.primary_conflict", status=409)
    return None


async def flush_or_conflict(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as error:
        conflict = _conflict_from(error)
        if conflict is None:
            raise
        log.warning("bank_account.unique_violation", code=conflict.code)
        raise conflict from error


async def owned_account(
    session: AsyncSession, *, user_id: uuid.UUID, account_id: uuid.UUID
) -> BankAccount:
    account = await session.scalar(
        select(BankAccount).where(BankAccount.id == account_id, BankAccount.user_id == user_id)
    )
    if account is None:
        # Another partner's account id gets the same 404 as a missing one.
        raise AppError("bank_account.not_found", status=404)
    return account


async def _shared_elsewhere(
    session: AsyncSession, *, user_id: uuid.UUID, column: Any, fingerprint: str
) -> bool:
    found = await session.scalar(
        select(BankAccount.id).where(column == fingerprint, BankAccount.user_id != user_id).limit(1)
    )
    return found is not None


async def review_reasons(
    session: AsyncSession,
    *,
    user: User,
    validated: ValidatedAccount,
    account_fingerprint: str,
    pix_fingerprint: str | None,
) -> list[str]:
    """List why an account needs a human look; empty when every automatic check passes.

    The holder must be the partner (their verified CPF) or a company (a CNPJ). A partner whose
    identity is not verified yet cannot be matched, so that account waits for review too.
    """
    reasons: list[str] = []
    known_cpf = sealing.verified_cpf(user)
    if known_cpf is None:
        reasons.append(ReviewReason.IDENTITY_UNVERIFIED)
    elif (
        validated.holder_document.type is DocumentType.CPF
        and validated.holder_document.number != known_cpf
    ):
        reasons.append(ReviewReason.HOLDER_CPF_MISMATCH)

    if await _shared_elsewhere(
        session,
        user_id=user.id,
        column=BankAccount.account_fingerprint,
        fingerprint=account_fingerprint,
    ):
        reasons.append(ReviewReason.ACCOUNT_SHARED)
    if pix_fingerprint is not None and await _shared_elsewhere(
        session,
        user_id=user.id,
        column=BankAccount.pix_key_fingerprint,
        fingerprint=pix_fingerprint,
    ):
        reasons.append(ReviewReason.PIX_KEY_SHARED)
    return [str(reason) for reason in reasons]


def idempotency_payload(data: BankAccountCreate) -> dict[str, Any]:
    """Describe a create request for the idempotency store without its secrets in clear.

    The store keeps a plain SHA-256 of this payload, and an unkeyed hash of a CPF or account
    number can be reversed by trying every number, so those fields go in as blind indexes.
    """
    payload = data.model_dump(mode="json")
    for name in ("holder_document", "account", "account_digit", "pix_key"):
        value = payload.get(name)
        if value is not None:
            payload[name] = blind_index(str(value), context=f"bank_accounts.idempotency.{name}")
    return payload


async def create_bank_account(
    session: AsyncSession, *, user: User, data: BankAccountCreate
) -> BankAccount:
    validated = validate_create(data)
    await lock_partner_accounts(session, user.id)

    existing = list(
        await session.scalars(select(BankAccount).where(BankAccount.user_id == user.id))
    )
    if len(existing) >= MAX_ACCOUNTS_PER_PARTNER:
        raise AppError(
            "bank_account.limit_reached", status=409, max_accounts=MAX_ACCOUNTS_PER_PARTNER
        )

    account_print = sealing.account_fingerprint(
        account_identity(
            bank_code=validated.bank.code,
            agency=validated.agency.number,
            account=validated.account.number,
            account_digit=validated.account.digit or "",
        )
    )
    pix = validated.pix_key
    pix_print = sealing.pix_key_fingerprint(pix.type, pix.value) if pix else None
    if any(other.account_fingerprint == account_print for other in existing):
        raise AppError("bank_account.duplicate", status=409, field="account")
    if pix_print is not None and any(other.pix_key_fingerprint == pix_print for other in existing):
        raise AppError("bank_account.pix_key_duplicate", status=409, field="pixKey")

    reasons = await review_reasons(
        session,
        user=user,
        validated=validated,
        account_fingerprint=account_print,
        pix_fingerprint=pix_print,
    )
    account_id = uuid.uuid4()
    account = BankAccount(
        id=account_id,
        user_id=user.id,
        holder_name=validated.holder_name,
        holder_document_type=validated.holder_document.type.value,
        holder_document_encrypted=sealing.seal(
            account_id, sealing.HOLDER_DOCUMENT, validated.holder_document.number
        ),
        bank_code=validated.bank.code,
        bank_ispb=validated.bank.ispb,
        agency=validated.agency.number,
        agency_digit=validated.agency.digit,
        account_encrypted=sealing.seal(
            account_id, sealing.ACCOUNT, f"{validated.account.number}-{validated.account.digit}"
        ),
        account_type=validated.account_type.value,
        account_fingerprint=account_print,
        pix_key_type=pix.type.value if pix else None,
        pix_key_encrypted=sealing.seal(account_id, sealing.PIX_KEY, pix.value) if pix else None,
        pix_key_fingerprint=pix_print,
        # A partner whose only account was rejected has accounts but no primary one.
        is_primary=not any(other.is_primary for other in existing),
        review_status=ReviewStatus.PENDING_REVIEW if reasons else ReviewStatus.CLEAR,
        review_reasons=reasons,
        # The statement's clock, not the transaction's: two accounts created in one
        # transaction still list in creation order.
        created_at=func.clock_timestamp(),
    )
    session.add(account)
    await flush_or_conflict(session)
    await session.refresh(account)

    await record_audit(
        session,
        actor_id=user.id,
        action="bank_account.created",
        target_type=AUDIT_TARGET,
        target_id=account.id,
        details={
            "bank_code": account.bank_code,
            "account_type": account.account_type,
            "holder_document_type": account.holder_document_type,
            "pix_key_type": account.pix_key_type,
            "is_primary": account.is_primary,
            "review_status": account.review_status,
            "review_reasons": reasons,
        },
    )
    log.info(
        "bank_account.created",
        bank_account_id=str(account.id),
        user_id=str(user.id),
        is_primary=account.is_primary,
        review_status=account.review_status,
    )
    return account


async def list_bank_accounts(
    session: AsyncSession, *, user_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[BankAccount], str | None]:
    query = apply_keyset(
        select(BankAccount).where(BankAccount.user_id == user_id),
        created_at=BankAccount.created_at,
        row_id=BankAccount.id,
        cursor=cursor,
        limit=limit,
        newest_first=False,
    )
    rows = list(await session.scalars(query))
    return page_of(rows, limit=limit, key=lambda row: (row.created_at, row.id))


async def delete_bank_account(session: AsyncSession, *, user: User, account_id: uuid.UUID) -> None:
    """Delete an account; the primary one only when it is the partner's last account."""
    await lock_partner_accounts(session, user.id)
    account = await owned_account(session, user_id=user.id, account_id=account_id)

    if account.is_primary:
        others = await session.scalar(
            select(func.count())
            .select_from(BankAccount)
            .where(BankAccount.user_id == user.id, BankAccount.id != account.id)
        )
        if others:
            raise AppError("bank_account.primary_delete_forbidden", status=409)

    details = {
        "bank_code": account.bank_code,
        "account_type": account.account_type,
        "was_primary": account.is_primary,
    }
    await session.delete(account)
    await flush_or_conflict(session)
    await record_audit(
        session,
        actor_id=user.id,
        action="bank_account.deleted",
        target_type=AUDIT_TARGET,
        target_id=account_id,
        details=details,
    )
    log.info("bank_account.deleted", bank_account_id=str(account_id), user_id=str(user.id))


async def set_primary(session: AsyncSession, *, user: User, account_id: uuid.UUID) -> BankAccount:
    """Make `account_id` the partner's primary account, demoting the previous one.

    The old primary is demoted and flushed before the new one is promoted, because the
    partial unique index is checked row by row and would reject two primaries in between.
    """
    await lock_partner_accounts(session, user.id)
    account = await owned_account(session, user_id=user.id, account_id=account_id)
    if account.is_primary:
        return account
    if account.review_status == ReviewStatus.REJECTED:
        raise AppError("bank_account.rejected_not_primary", status=409)

    previous = await session.scalar(
        select(BankAccount).where(BankAccount.user_id == user.id, BankAccount.is_primary)
    )
    if previous is not None:
        previous.is_primary = False
        await flush_or_conflict(session)
    account.is_primary = True
    await flush_or_conflict(session)
    await session.refresh(account)

    await record_audit(
        session,
        actor_id=user.id,
        action="bank_account.primary_set",
        target_type=AUDIT_TARGET,
        target_id=account.id,
        details={"previous_primary_id": str(previous.id) if previous else None},
    )
    log.info(
        "bank_account.primary_set",
        bank_account_id=str(account.id),
        previous_primary_id=str(previous.id) if previous else None,
        user_id=str(user.id),
    )
    return account

"""Admin review of flagged bank accounts, and re-checks once a partner's identity is verified."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.admin.service import record_audit
from taskgo.bank_accounts import sealing
from taskgo.bank_accounts.documents import DocumentType
from taskgo.bank_accounts.models import BankAccount, ReviewReason, ReviewStatus
from taskgo.bank_accounts.service import (
    AUDIT_TARGET,
    flush_or_conflict,
    lock_partner_accounts,
)
from taskgo.errors import AppError
from taskgo.pagination import apply_keyset, page_of
from taskgo.users.models import User

log = structlog.get_logger(__name__)


async def list_for_review(
    session: AsyncSession, *, status: ReviewStatus, cursor: str | None, limit: int
) -> tuple[list[BankAccount], str | None]:
    query = apply_keyset(
        select(BankAccount).where(BankAccount.review_status == status),
        created_at=BankAccount.created_at,
        row_id=BankAccount.id,
        cursor=cursor,
        limit=limit,
        newest_first=False,
    )
    rows = list(await session.scalars(query))
    return page_of(rows, limit=limit, key=lambda row: (row.created_at, row.id))


async def _promote_replacement(session: AsyncSession, *, rejected: BankAccount) -> uuid.UUID | None:
    """Move the primary role off a rejected account to the partner's oldest eligible one."""
    rejected.is_primary = False
    await flush_or_conflict(session)
    replacement = await session.scalar(
        select(BankAccount)
        .where(
            BankAccount.user_id == rejected.user_id,
            BankAccount.id != rejected.id,
            BankAccount.review_status != ReviewStatus.REJECTED,
        )
        .order_by(BankAccount.created_at, BankAccount.id)
        .limit(1)
    )
    if replacement is None:
        return None
    replacement.is_primary = True
    await flush_or_conflict(session)
    return replacement.id


async def decide_review(
    session: AsyncSession,
    *,
    admin: User,
    account_id: uuid.UUID,
    approve: bool,
    note: str | None,
) -> BankAccount:
    """Approve or reject an account waiting for review; a rejected account stops being primary."""
    account = await session.get(BankAccount, account_id)
    if account is None:
        raise AppError("bank_account.not_found", status=404)
    await lock_partner_accounts(session, account.user_id)
    await session.refresh(account)
    if account.review_status != ReviewStatus.PENDING_REVIEW:
        raise AppError("bank_account.review_invalid_state", status=409)

    account.review_status = ReviewStatus.APPROVED if approve else ReviewStatus.REJECTED
    account.reviewed_by = admin.id
    account.reviewed_at = datetime.now(UTC)
    new_primary_id = None
    if not approve and account.is_primary:
        new_primary_id = await _promote_replacement(session, rejected=account)
    await flush_or_conflict(session)
    await session.refresh(account)

    await record_audit(
        session,
        actor_id=admin.id,
        action="bank_account.approved" if approve else "bank_account.rejected",
        target_type=AUDIT_TARGET,
        target_id=account.id,
        details={
            "user_id": str(account.user_id),
            "review_reasons": list(account.review_reasons),
            "note": note,
            "new_primary_id": str(new_primary_id) if new_primary_id else None,
        },
    )
    log.info(
        "bank_account.reviewed",
        bank_account_id=str(account.id),
        admin_id=str(admin.id),
        approved=approve,
    )
    return account


async def recheck_holders_after_verification(session: AsyncSession, *, user: User) -> int:
    """Re-run the holder check on accounts flagged only because the partner was unverified.

    Meant to be called by identity verification once it stores the verified CPF. An account
    whose holder now matches (or is a CNPJ) is cleared; a CPF that differs stays in review with
    the mismatch as its reason. Returns how many accounts changed.
    """
    known_cpf = sealing.verified_cpf(user)
    if known_cpf is None:
        return 0
    await lock_partner_accounts(session, user.id)
    flagged = await session.scalars(
        select(BankAccount).where(
            BankAccount.user_id == user.id,
            BankAccount.review_status == ReviewStatus.PENDING_REVIEW,
            BankAccount.review_reasons.contains([ReviewReason.IDENTITY_UNVERIFIED.value]),
        )
    )

    changed = 0
    for account in flagged:
        reasons = [r for r in account.review_reasons if r != ReviewReason.IDENTITY_UNVERIFIED]
        if account.holder_document_type == DocumentType.CPF:
            holder = sealing.unseal(
                account.id, sealing.HOLDER_DOCUMENT, account.holder_document_encrypted
            )
            if holder != known_cpf:
                reasons.append(ReviewReason.HOLDER_CPF_MISMATCH.value)
        account.review_reasons = reasons
        if not reasons:
            account.review_status = ReviewStatus.CLEAR
        changed += 1
        await record_audit(
            session,
            actor_id=None,
            action="bank_account.holder_rechecked",
            target_type=AUDIT_TARGET,
            target_id=account.id,
            details={"review_status": account.review_status, "review_reasons": reasons},
        )
    await flush_or_conflict(session)
    log.info("bank_account.holders_rechecked", user_id=str(user.id), changed=changed)
    return changed

"""Admin review of submissions: the queue, one submission's details, approval and rejection."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.admin.service import record_audit
from taskgo.bank_accounts.review import recheck_holders_after_verification
from taskgo.crypto import encrypt_field
from taskgo.errors import AppError
from taskgo.i18n import Label
from taskgo.pagination import apply_keyset, page_of
from taskgo.purchases.release import queue_releases_after_verification
from taskgo.uploads.models import Upload
from taskgo.users.models import User, VerificationStatus
from taskgo.verification.extraction import is_valid_cpf
from taskgo.verification.models import (
    CPF_APPROVED_ONCE_INDEX,
    AnalysisStatus,
    SubmissionStatus,
    VerificationSubmission,
)
from taskgo.verification.notify import notify_decision
from taskgo.verification.service import (
    USER_CPF_CONTEXT,
    cpf_fingerprint,
    cpf_in_use_elsewhere,
    read_extracted_cpf,
)

log = structlog.get_logger(__name__)

REASON_MIN_LENGTH = 5
REASON_MAX_LENGTH = 500


@dataclass
class SubmissionDetail:
    submission: VerificationSubmission
    partner: User
    document_front: Upload
    document_back: Upload
    selfie: Upload
    # The CPF read by OCR, in clear text, for the admin to compare with the image.
    extracted_cpf: str | None
    decided_by: User | None


async def list_submissions(
    session: AsyncSession, *, status: SubmissionStatus, cursor: str | None, limit: int
) -> tuple[list[tuple[VerificationSubmission, User]], str | None]:
    """Return a page of submissions with their partners, oldest first for the pending
    queue (first come, first served) and newest first for decided ones."""
    query: Any = (
        select(VerificationSubmission, User)
        .join(User, User.id == VerificationSubmission.user_id)
        .where(VerificationSubmission.status == status)
    )
    query = apply_keyset(
        query,
        created_at=VerificationSubmission.created_at,
        row_id=VerificationSubmission.id,
        cursor=cursor,
        limit=limit,
        newest_first=status != SubmissionStatus.PENDING,
    )
    rows: list[tuple[VerificationSubmission, User]] = [
        (row[0], row[1]) for row in (await session.execute(query)).all()
    ]
    return page_of(rows, limit=limit, key=lambda row: (row[0].created_at, row[0].id))


async def get_detail(session: AsyncSession, submission_id: uuid.UUID) -> SubmissionDetail:
    submission = await session.get(VerificationSubmission, submission_id)
    if submission is None:
        raise AppError("verification.submission_not_found", status=404)
    partner = await session.get(User, submission.user_id)
    front = await session.get(Upload, submission.document_front_id)
    back = await session.get(Upload, submission.document_back_id)
    selfie = await session.get(Upload, submission.selfie_id)
    # Foreign keys guarantee these rows; uploads are never deleted, only their files.
    assert partner is not None
    assert front is not None
    assert back is not None
    assert selfie is not None
    decided_by = (
        await session.get(User, submission.decided_by_id) if submission.decided_by_id else None
    )
    extracted_cpf = read_extracted_cpf(submission)
    return SubmissionDetail(
        submission=submission,
        partner=partner,
        document_front=front,
        document_back=back,
        selfie=selfie,
        extracted_cpf=extracted_cpf,
        decided_by=decided_by,
    )


async def _locked_pending(
    session: AsyncSession, submission_id: uuid.UUID
) -> VerificationSubmission:
    submission = await session.get(
        VerificationSubmission, submission_id, with_for_update=True, populate_existing=True
    )
    if submission is None:
        raise AppError("verification.submission_not_found", status=404)
    if submission.status != SubmissionStatus.PENDING:
        raise AppError(
            "verification.already_decided",
            status=409,
            status_name=Label(f"verification.status.{submission.status}"),
        )
    return submission


def normalize_cpf_input(value: str | None) -> str | None:
    """Return the 11 digits of a CPF typed by an admin, or None when left blank."""
    if value is None or not value.strip():
        return None
    digits = "".join(char for char in value if char.isdigit())
    if not is_valid_cpf(digits):
        raise AppError("verification.invalid_cpf", field="cpf")
    return digits


async def approve(
    session: AsyncSession,
    *,
    submission_id: uuid.UUID,
    admin: User,
    cpf_input: str | None = None,
) -> VerificationSubmission:
    """Approve: the partner becomes verified with the CPF read by OCR, or the one the admin
    typed after reading the document. Audited and notified in the same transaction."""
    submission = await _locked_pending(session, submission_id)
    typed_cpf = normalize_cpf_input(cpf_input)
    ocr_cpf = read_extracted_cpf(submission)
    cpf = typed_cpf or ocr_cpf
    if cpf is None:
        raise AppError("verification.cpf_required", field="cpf")

    fingerprint = cpf_fingerprint(cpf)
    if await cpf_in_use_elsewhere(session, fingerprint=fingerprint, user_id=submission.user_id):
        raise AppError("verification.cpf_in_use", status=409, field="cpf")

    partner = await session.get(User, submission.user_id, with_for_update=True)
    assert partner is not None
    now = datetime.now(UTC)
    await _mark_approved(session, submission, admin=admin, fingerprint=fingerprint, now=now)
    partner.verification_status = VerificationStatus.VERIFIED
    partner.verified_cpf_encrypted = encrypt_field(cpf, context=USER_CPF_CONTEXT)
    partner.verified_at = now
    await session.flush()

    cpf_source = "ocr" if typed_cpf is None or typed_cpf == ocr_cpf else "admin"
    await record_audit(
        session,
        actor_id=admin.id,
        action="verification.approved",
        target_type="verification_submission",
        target_id=submission.id,
        details={
            "partnerId": str(partner.id),
            "cpfSource": cpf_source,
            "analysisStatus": submission.analysis_status,
            "checksPassed": bool(submission.analysis.get("passed", False)),
        },
    )
    await notify_decision(session, partner=partner, submission=submission)

    # Work that waited for this partner's identity: flagged bank accounts and payouts.
    await recheck_holders_after_verification(session, user=partner)
    await queue_releases_after_verification(session, seller_id=partner.id)
    log.info(
        "verification.approved",
        submission_id=str(submission.id),
        user_id=str(partner.id),
        admin_id=str(admin.id),
        cpf_source=cpf_source,
    )
    return submission


async def _mark_approved(
    session: AsyncSession,
    submission: VerificationSubmission,
    *,
    admin: User,
    fingerprint: str,
    now: datetime,
) -> None:
    """Store the approval, or raise `verification.cpf_in_use` when another approval of
    the same CPF got in first.

    The check in `approve` reads committed rows only, so two approvals of one CPF at the
    same moment both pass it. The unique index on approved fingerprints then makes the
    second flush wait for the first transaction and fail once it commits. The savepoint
    keeps the caller's transaction usable for the error page.
    """
    # Read before the savepoint: its rollback expires the row's loaded attributes.
    submission_id = submission.id
    try:
        async with session.begin_nested():
            submission.status = SubmissionStatus.APPROVED
            submission.decided_at = now
            submission.decided_by_id = admin.id
            submission.cpf_fingerprint = fingerprint
            await session.flush()
    except IntegrityError as exc:
        if CPF_APPROVED_ONCE_INDEX not in str(exc.orig):
            raise
        log.warning(
            "verification.cpf_conflict",
            submission_id=str(submission_id),
            admin_id=str(admin.id),
        )
        raise AppError("verification.cpf_in_use", status=409, field="cpf") from exc


def clean_reason(reason: str | None) -> str:
    text = " ".join((reason or "").split())
    if len(text) < REASON_MIN_LENGTH:
        raise AppError("verification.reason_required", field="reason", min=REASON_MIN_LENGTH)
    if len(text) > REASON_MAX_LENGTH:
        raise AppError("verification.reason_too_long", field="reason", max=REASON_MAX_LENGTH)
    return text


async def reject(
    session: AsyncSession, *, submission_id: uuid.UUID, admin: User, reason: str | None
) -> VerificationSubmission:
    """Reject with a reason shown to the partner, who may then submit new photos."""
    text = clean_reason(reason)
    submission = await _locked_pending(session, submission_id)
    partner = await session.get(User, submission.user_id, with_for_update=True)
    assert partner is not None

    submission.status = SubmissionStatus.REJECTED
    submission.decided_at = datetime.now(UTC)
    submission.decided_by_id = admin.id
    submission.rejection_reason = text
    partner.verification_status = VerificationStatus.REJECTED
    await session.flush()

    await record_audit(
        session,
        actor_id=admin.id,
        action="verification.rejected",
        target_type="verification_submission",
        target_id=submission.id,
        details={
            "partnerId": str(partner.id),
            "reason": text,
            "analysisStatus": submission.analysis_status,
            "checksPassed": bool(submission.analysis.get("passed", False)),
        },
    )
    await notify_decision(session, partner=partner, submission=submission)
    log.info(
        "verification.rejected",
        submission_id=str(submission.id),
        user_id=str(partner.id),
        admin_id=str(admin.id),
    )
    return submission


def analysis_pending(submission: VerificationSubmission) -> bool:
    return submission.analysis_status == AnalysisStatus.QUEUED

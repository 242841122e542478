"""Partner identity verification: submissions, their automatic analysis, the partner's status.

Admin decisions live in `review.py` and image retention in `retention.py`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import anyio.to_thread
import structlog
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.crypto import FieldDecryptionError, blind_index, decrypt_field, encrypt_field
from taskgo.errors import AppError
from taskgo.jobs import enqueue
from taskgo.uploads import service as uploads
from taskgo.uploads.models import Upload, UploadPurpose
from taskgo.users.models import User, VerificationStatus
from taskgo.verification.analysis import AnalysisError
from taskgo.verification.checks import CheckReport, run_checks
from taskgo.verification.extraction import mask_cpf
from taskgo.verification.models import (
    EXTRACTED_NAME_LENGTH,
    AnalysisStatus,
    SubmissionStatus,
    VerificationSubmission,
)
from taskgo.verification.schemas import ExtractedOut, StatusOut, SubmitIn

log = structlog.get_logger(__name__)

ANALYZE_TASK = "verification.analyze"
# Associated data bound to the encrypted CPF columns. The users column's value is shared
# with the bank-accounts domain, which decrypts it to compare account holders.
USER_CPF_CONTEXT = "users.verified_cpf"
SUBMISSION_CPF_CONTEXT = "verification_submissions.extracted_cpf"
CPF_FINGERPRINT_CONTEXT = "verification.cpf"

# The analysis failure reasons stored in `analysis["error"]`, each with a message
# `verification.analysis_failed.<reason>` for the console.
ANALYSIS_FAILURE_REASONS = (
    "images_missing",
    "document_image_degenerate",
    "ocr_timeout",
    "analysis_error",
)

# Request field, upload purpose and the key used in `image_hashes`, per image.
_IMAGE_SLOTS = (
    ("documentFront", UploadPurpose.DOCUMENT),
    ("documentBack", UploadPurpose.DOCUMENT),
    ("selfie", UploadPurpose.SELFIE),
)


def cpf_fingerprint(cpf: str) -> str:
    return blind_index(cpf, context=CPF_FINGERPRINT_CONTEXT)


async def latest_submission(
    session: AsyncSession, *, user_id: uuid.UUID
) -> VerificationSubmission | None:
    return await session.scalar(
        select(VerificationSubmission)
        .where(VerificationSubmission.user_id == user_id)
        .order_by(VerificationSubmission.created_at.desc(), VerificationSubmission.id.desc())
        .limit(1)
    )


async def _check_can_submit(session: AsyncSession, user: User) -> None:
    # Locking the user row serialises concurrent submissions by the same partner; the
    # partial unique index on pending submissions backs this up.
    await session.refresh(user, with_for_update=True)
    if user.verification_status == VerificationStatus.VERIFIED:
        raise AppError("verification.already_verified", status=409)
    pending = await session.scalar(
        select(
            exists().where(
                VerificationSubmission.user_id == user.id,
                VerificationSubmission.status == SubmissionStatus.PENDING,
            )
        )
    )
    if pending:
        raise AppError("verification.already_pending", status=409)


async def _check_uploads(session: AsyncSession, *, user: User, body: SubmitIn) -> dict[str, Upload]:
    requested = {
        "documentFront": body.document_front,
        "documentBack": body.document_back,
        "selfie": body.selfie,
    }
    seen: set[uuid.UUID] = set()
    for field_name, upload_id in requested.items():
        if upload_id in seen:
            raise AppError("verification.duplicate_upload", field=field_name)
        seen.add(upload_id)

    owned = await uploads.get_owned_uploads(
        session, owner_id=user.id, upload_ids=list(requested.values())
    )
    chosen: dict[str, Upload] = {}
    for field_name, purpose in _IMAGE_SLOTS:
        upload = owned.get(requested[field_name])
        if upload is None:
            raise AppError("verification.upload_not_found", field=field_name)
        if upload.purpose != purpose:
            raise AppError(
                "verification.wrong_upload_purpose", field=field_name, purpose=purpose.value
            )
        chosen[field_name] = upload

    # The same photo uploaded twice has two ids but one content: the check compares what
    # each image shows, so it needs three different images.
    contents: set[str] = set()
    for field_name, upload in chosen.items():
        if upload.source_sha256 in contents:
            raise AppError("verification.duplicate_upload", field=field_name)
        contents.add(upload.source_sha256)

    # Each submission needs fresh photos: retention deletes the images of decided
    # submissions, so sharing them would delete a newer submission's evidence.
    ids = [upload.id for upload in chosen.values()]
    used = (
        await session.execute(
            select(
                VerificationSubmission.document_front_id,
                VerificationSubmission.document_back_id,
                VerificationSubmission.selfie_id,
            ).where(
                VerificationSubmission.document_front_id.in_(ids)
                | VerificationSubmission.document_back_id.in_(ids)
                | VerificationSubmission.selfie_id.in_(ids)
            )
        )
    ).all()
    used_ids = {upload_id for row in used for upload_id in row}
    for field_name, upload in chosen.items():
        if upload.id in used_ids:
            raise AppError("verification.upload_already_used", field=field_name)
    return chosen


async def submit(session: AsyncSession, *, user: User, body: SubmitIn) -> VerificationSubmission:
    """Create a pending submission and queue its analysis (flushed, not committed)."""
    await _check_can_submit(session, user)
    chosen = await _check_uploads(session, user=user, body=body)

    submission = VerificationSubmission(
        user_id=user.id,
        status=SubmissionStatus.PENDING,
        document_front_id=chosen["documentFront"].id,
        document_back_id=chosen["documentBack"].id,
        selfie_id=chosen["selfie"].id,
        image_hashes={name: upload.sha256 for name, upload in chosen.items()},
        analysis_status=AnalysisStatus.QUEUED,
        analysis={},
    )
    session.add(submission)
    user.verification_status = VerificationStatus.PENDING
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise AppError("verification.already_pending", status=409) from exc

    await enqueue(
        session,
        ANALYZE_TASK,
        submission_id=str(submission.id),
        queueing_lock=f"verification.analyze:{submission.id}",
    )
    log.info("verification.submitted", submission_id=str(submission.id), user_id=str(user.id))
    return submission


def read_extracted_cpf(submission: VerificationSubmission) -> str | None:
    """Return the CPF read by OCR (11 digits), or None when none was read or it cannot be
    decrypted any more."""
    if not submission.extracted_cpf_encrypted:
        return None
    try:
        return decrypt_field(submission.extracted_cpf_encrypted, context=SUBMISSION_CPF_CONTEXT)
    except FieldDecryptionError as exc:
        # Its key was removed from FIELD_ENCRYPTION_KEYS; pages still load without it.
        log.error("verification.cpf_unreadable", submission_id=str(submission.id), error=str(exc))
        return None


def extracted_view(submission: VerificationSubmission) -> ExtractedOut | None:
    if submission.analysis_status != AnalysisStatus.DONE:
        return None
    extracted_cpf = read_extracted_cpf(submission)
    cpf = mask_cpf(extracted_cpf) if extracted_cpf else None
    return ExtractedOut(
        name=submission.extracted_name, birth_date=submission.extracted_birth_date, cpf=cpf
    )


# The analysis status shown to the partner: a failed analysis is no error of theirs.
_PARTNER_ANALYSIS_STATUS = {
    AnalysisStatus.QUEUED: "queued",
    AnalysisStatus.DONE: "done",
    AnalysisStatus.FAILED: "manual_review",
}


async def status_view(session: AsyncSession, *, user: User) -> StatusOut:
    submission = await latest_submission(session, user_id=user.id)
    if submission is None:
        return StatusOut(status=user.verification_status)
    return StatusOut(
        status=user.verification_status,
        submission_id=submission.id,
        submitted_at=submission.created_at,
        decided_at=submission.decided_at,
        reason=submission.rejection_reason,
        analysis_complete=submission.analysis_status != AnalysisStatus.QUEUED,
        analysis_status=_PARTNER_ANALYSIS_STATUS[AnalysisStatus(submission.analysis_status)],
        extracted=extracted_view(submission),
    )


async def analyze_submission(
    session: AsyncSession, *, submission_id: uuid.UUID, today: date | None = None
) -> None:
    """Run the automatic checks and store their results; the status stays as it is.

    Idempotent: a submission already analysed is left alone. A storage outage raises, so
    the job is retried; images that are gone mark the analysis as failed.
    """
    submission = await session.get(VerificationSubmission, submission_id)
    if submission is None or submission.analysis_status == AnalysisStatus.DONE:
        return
    user = await session.get(User, submission.user_id)
    assert user is not None

    try:
        images = {
            "document_front": await _image_bytes(session, submission.document_front_id),
            "document_back": await _image_bytes(session, submission.document_back_id),
            "selfie": await _image_bytes(session, submission.selfie_id),
        }
    except AppError as exc:
        if exc.status != 410:
            raise
        await _mark_failed(session, submission_id, reason="images_missing")
        return

    profile_name = user.name
    try:
        report: CheckReport = await anyio.to_thread.run_sync(
            lambda: run_checks(
                profile_name=profile_name, today=today or datetime.now(UTC).date(), **images
            )
        )
    except AnalysisError as exc:
        await _mark_failed(session, submission_id, reason=exc.reason, detail=str(exc))
        return
    except Exception as exc:
        # The checks read stored images only, so a second attempt would fail the same way
        # and hold the worker again. An admin decides from the images instead.
        log.exception("verification.analysis_crashed", submission_id=str(submission_id))
        await _mark_failed(
            session, submission_id, reason="analysis_error", detail=type(exc).__name__
        )
        return
    await _store_report(session, submission_id=submission_id, report=report)


async def _image_bytes(session: AsyncSession, upload_id: uuid.UUID) -> bytes:
    upload = await uploads.get_upload(session, upload_id)
    return await uploads.read_file(upload)


async def _mark_failed(
    session: AsyncSession, submission_id: uuid.UUID, *, reason: str, detail: str | None = None
) -> None:
    """Leave the submission to an admin's manual review, with the reason (one of
    ANALYSIS_FAILURE_REASONS) shown on the console page."""
    submission = await session.get(
        VerificationSubmission, submission_id, with_for_update=True, populate_existing=True
    )
    if submission is None or submission.analysis_status == AnalysisStatus.DONE:
        return
    submission.analysis_status = AnalysisStatus.FAILED
    submission.analysed_at = datetime.now(UTC)
    submission.analysis = {"error": reason}
    await session.flush()
    log.warning(
        "verification.analysis_failed",
        submission_id=str(submission_id),
        reason=reason,
        detail=detail,
    )


async def give_up_analysis(session: AsyncSession, *, submission_id: uuid.UUID) -> None:
    """Hand a submission whose analysis job failed on its last attempt to manual review."""
    await _mark_failed(session, submission_id, reason="analysis_error", detail="retries exhausted")


async def count_analysis_attempt(session: AsyncSession, *, submission_id: uuid.UUID) -> int:
    """Add one to the analysis attempts of a queued submission and return the new count
    (0 when the submission is gone or no longer queued)."""
    submission = await session.get(
        VerificationSubmission, submission_id, with_for_update=True, populate_existing=True
    )
    if submission is None or submission.analysis_status != AnalysisStatus.QUEUED:
        return 0
    attempts = int(submission.analysis.get("attempts", 0)) + 1
    submission.analysis = {**submission.analysis, "attempts": attempts}
    await session.flush()
    return attempts


async def cpf_in_use_elsewhere(
    session: AsyncSession, *, fingerprint: str, user_id: uuid.UUID
) -> bool:
    """Tell whether another partner was already verified with this CPF."""
    found = await session.scalar(
        select(
            exists().where(
                VerificationSubmission.cpf_fingerprint == fingerprint,
                VerificationSubmission.status == SubmissionStatus.APPROVED,
                VerificationSubmission.user_id != user_id,
            )
        )
    )
    return bool(found)


def _fit(value: str | None, length: int) -> str | None:
    """Shorten OCR text to its column, at a word boundary when there is one."""
    if value is None or len(value) <= length:
        return value
    cut = value[:length]
    return cut.rsplit(" ", 1)[0] if " " in cut else cut


async def _store_report(
    session: AsyncSession, *, submission_id: uuid.UUID, report: CheckReport
) -> None:
    # Locked only now: the OCR above takes seconds and must not block an admin's decision.
    submission = await session.get(
        VerificationSubmission, submission_id, with_for_update=True, populate_existing=True
    )
    assert submission is not None
    if submission.analysis_status == AnalysisStatus.DONE:
        return

    cpf = report.fields.cpf
    if cpf is not None:
        fingerprint = cpf_fingerprint(cpf)
        report.checks["cpfNotInUse"] = not await cpf_in_use_elsewhere(
            session, fingerprint=fingerprint, user_id=submission.user_id
        )
        submission.extracted_cpf_encrypted = encrypt_field(cpf, context=SUBMISSION_CPF_CONTEXT)
        # An admin who decided before the analysis ran fixed the fingerprint of the approved
        # CPF. The duplicate-CPF check reads that fingerprint, so OCR must not replace it.
        if submission.status == SubmissionStatus.PENDING:
            submission.cpf_fingerprint = fingerprint

    submission.extracted_name = _fit(report.fields.name, EXTRACTED_NAME_LENGTH)
    submission.extracted_birth_date = report.fields.birth_date
    submission.analysis = report.as_json()
    submission.analysis_status = AnalysisStatus.DONE
    submission.analysed_at = datetime.now(UTC)
    await session.flush()
    log.info(
        "verification.analysed",
        submission_id=str(submission_id),
        passed=report.passed,
        failed_checks=[name for name, ok in report.checks.items() if not ok],
    )

"""Deletion of identity images once they are no longer needed.

Selfie and document files are deleted a set number of days after the admin's decision
(VERIFICATION_IMAGE_RETENTION_DAYS). The submission keeps its results and the SHA-256
of each image, and the upload rows stay with `file_deleted_at` set. Document and selfie
uploads never attached to a submission are deleted after the same number of days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.uploads import service as uploads
from taskgo.uploads.models import PRIVATE_PURPOSES, Upload
from taskgo.uploads.storage import StorageError
from taskgo.verification.models import SubmissionStatus, VerificationSubmission

log = structlog.get_logger(__name__)

# Rows handled per run; the job runs hourly, so a backlog drains over a few runs.
BATCH_SIZE = 200


@dataclass
class PurgeResult:
    submissions: int = 0
    files: int = 0
    unattached_files: int = 0
    failures: int = 0


async def purge_images(session: AsyncSession, *, now: datetime, retention_days: int) -> PurgeResult:
    """Delete the images of submissions decided more than `retention_days` ago, and of
    private uploads that were never submitted. Storage failures are logged and the row
    is left for the next run."""
    cutoff = now - timedelta(days=retention_days)
    result = PurgeResult()

    due = await session.scalars(
        select(VerificationSubmission)
        .where(
            VerificationSubmission.status != SubmissionStatus.PENDING,
            VerificationSubmission.decided_at <= cutoff,
            VerificationSubmission.images_deleted_at.is_(None),
        )
        .order_by(VerificationSubmission.decided_at)
        .limit(BATCH_SIZE)
        .with_for_update(skip_locked=True)
    )
    for submission in due.all():
        ids = (submission.document_front_id, submission.document_back_id, submission.selfie_id)
        deleted = await _delete_files(session, ids, result=result)
        if deleted is None:
            continue
        result.files += deleted
        submission.images_deleted_at = now
        result.submissions += 1
        log.info("verification.images_deleted", submission_id=str(submission.id), files=deleted)

    attached = (
        select(VerificationSubmission.id)
        .where(
            (VerificationSubmission.document_front_id == Upload.id)
            | (VerificationSubmission.document_back_id == Upload.id)
            | (VerificationSubmission.selfie_id == Upload.id)
        )
        .exists()
    )
    unattached = await session.scalars(
        select(Upload)
        .where(
            Upload.purpose.in_([purpose.value for purpose in PRIVATE_PURPOSES]),
            Upload.file_deleted_at.is_(None),
            Upload.created_at <= cutoff,
            ~attached,
        )
        .limit(BATCH_SIZE)
        .with_for_update(skip_locked=True)
    )
    for upload in unattached.all():
        deleted = await _delete_files(session, (upload.id,), result=result)
        result.unattached_files += deleted or 0

    await session.flush()
    return result


async def _delete_files(
    session: AsyncSession, upload_ids: tuple[object, ...], *, result: PurgeResult
) -> int | None:
    """Delete the uploads' files; return how many were deleted, or None on a failure."""
    deleted = 0
    for upload_id in upload_ids:
        upload = await session.get(Upload, upload_id)
        if upload is None:
            continue
        try:
            if await uploads.delete_file(session, upload):
                deleted += 1
        except StorageError as exc:
            result.failures += 1
            log.error("verification.image_delete_failed", upload_id=str(upload.id), error=str(exc))
            return None
    return deleted

"""Image retention: files go N days after the decision, results and hashes stay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.jobs.inline import run_queued_jobs
from taskgo.uploads.models import Upload
from taskgo.uploads.service import get_storage
from taskgo.users.models import User
from taskgo.verification import review
from taskgo.verification.models import VerificationSubmission
from taskgo.verification.retention import purge_images
from taskgo.verification.tasks import purge_images as purge_task
from tests.verification.conftest import Headers, SubmitImages, upload_image
from tests.verification.documents import encode, needs_ocr, portrait

RETENTION_DAYS = 30

pytestmark = needs_ocr


async def decided_submission(
    db: AsyncSession, submit_images: SubmitImages, partner: User, admin: User
) -> VerificationSubmission:
    response = await submit_images(partner)
    await run_queued_jobs(db, task_names={"verification.analyze"})
    submission = await db.get(VerificationSubmission, uuid.UUID(response.json()["id"]))
    assert submission is not None
    await review.approve(db, submission_id=submission.id, admin=admin)
    await db.refresh(submission)
    return submission


async def uploads_of(db: AsyncSession, submission: VerificationSubmission) -> list[Upload]:
    found = []
    for upload_id in (
        submission.document_front_id,
        submission.document_back_id,
        submission.selfie_id,
    ):
        upload = await db.get(Upload, upload_id)
        assert upload is not None
        await db.refresh(upload)
        found.append(upload)
    return found


async def test_images_kept_before_retention_ends(
    db: AsyncSession, partner: User, admin: User, submit_images: SubmitImages
) -> None:
    submission = await decided_submission(db, submit_images, partner, admin)
    assert submission.decided_at is not None
    almost = submission.decided_at + timedelta(days=RETENTION_DAYS - 1)

    result = await purge_images(db, now=almost, retention_days=RETENTION_DAYS)
    assert result.submissions == 0
    for upload in await uploads_of(db, submission):
        assert upload.file_deleted_at is None
        assert await get_storage().exists(upload.storage_key)


async def test_images_deleted_after_retention(
    client: httpx.AsyncClient,
    db: AsyncSession,
    partner: User,
    admin: User,
    auth_headers: Headers,
    submit_images: SubmitImages,
) -> None:
    submission = await decided_submission(db, submit_images, partner, admin)
    hashes = dict(submission.image_hashes)
    analysis = dict(submission.analysis)
    assert submission.decided_at is not None
    later = submission.decided_at + timedelta(days=RETENTION_DAYS, minutes=1)

    result = await purge_images(db, now=later, retention_days=RETENTION_DAYS)
    assert result.submissions == 1
    assert result.files == 3
    assert result.failures == 0

    await db.refresh(submission)
    assert submission.images_deleted_at == later
    assert submission.image_hashes == hashes
    assert submission.analysis == analysis
    assert submission.extracted_name == "JOSÉ CONCEIÇÃO DA SILVA ARAÚJO"
    assert submission.status == "approved"

    uploads = await uploads_of(db, submission)
    for upload in uploads:
        assert upload.file_deleted_at is not None
        assert not await get_storage().exists(upload.storage_key)
        assert len(upload.sha256) == 64
    assert hashes["selfie"] == uploads[2].sha256

    deleted_file = await client.get(f"/api/uploads/{uploads[2].id}", headers=auth_headers(partner))
    assert deleted_file.status_code == 410
    assert deleted_file.json()["error"]["code"] == "upload.file_deleted"

    again = await purge_images(db, now=later + timedelta(hours=1), retention_days=RETENTION_DAYS)
    assert again.submissions == 0


async def test_pending_submission_images_kept(
    db: AsyncSession, partner: User, submit_images: SubmitImages
) -> None:
    response = await submit_images(partner)
    submission = await db.get(VerificationSubmission, uuid.UUID(response.json()["id"]))
    assert submission is not None

    far_future = datetime.now(UTC) + timedelta(days=365)
    result = await purge_images(db, now=far_future, retention_days=RETENTION_DAYS)
    assert result.submissions == 0
    assert result.unattached_files == 0
    for upload in await uploads_of(db, submission):
        assert upload.file_deleted_at is None


async def test_unsubmitted_private_uploads_deleted(
    client: httpx.AsyncClient, db: AsyncSession, partner: User, auth_headers: Headers
) -> None:
    headers = auth_headers(partner)
    selfie_id = await upload_image(client, headers, encode(portrait()), purpose="selfie")
    product_id = await upload_image(client, headers, encode(portrait()), purpose="product_image")

    later = datetime.now(UTC) + timedelta(days=RETENTION_DAYS + 1)
    result = await purge_images(db, now=later, retention_days=RETENTION_DAYS)
    assert result.unattached_files == 1

    selfie = await db.get(Upload, uuid.UUID(selfie_id))
    product = await db.get(Upload, uuid.UUID(product_id))
    assert selfie is not None and product is not None
    await db.refresh(selfie)
    await db.refresh(product)
    assert selfie.file_deleted_at is not None
    assert product.file_deleted_at is None
    assert await get_storage().exists(product.storage_key)


async def test_periodic_task_uses_setting(
    db: AsyncSession, partner: User, admin: User, submit_images: SubmitImages
) -> None:
    submission = await decided_submission(db, submit_images, partner, admin)
    assert submission.decided_at is not None
    # The default VERIFICATION_IMAGE_RETENTION_DAYS is 30.
    timestamp = int((submission.decided_at + timedelta(days=31)).timestamp())

    await purge_task.func(timestamp=timestamp)  # type: ignore[attr-defined]
    await db.refresh(submission)
    assert submission.images_deleted_at is not None

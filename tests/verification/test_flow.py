"""Verification through the HTTP API: submit, analysis job, status, and submit errors."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import date

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.db.session import session_scope
from taskgo.jobs.inline import run_queued_jobs
from taskgo.users.models import User
from taskgo.verification import review
from taskgo.verification.models import VerificationSubmission
from tests.verification.conftest import (
    Headers,
    ImageSet,
    MakeUser,
    SubmitImages,
    good_images,
    upload_image,
)
from tests.verification.documents import (
    document_back,
    document_front,
    encode,
    needs_ocr,
    no_face,
    portrait,
    sideways_with_exif,
    two_faces,
)

pytestmark = needs_ocr


async def submission_of(db: AsyncSession, response: httpx.Response) -> VerificationSubmission:
    submission = await db.get(VerificationSubmission, uuid.UUID(response.json()["id"]))
    assert submission is not None
    await db.refresh(submission)
    return submission


async def queued_analyses(db: AsyncSession) -> int:
    count = await db.scalar(
        text(
            "SELECT count(*) FROM procrastinate_jobs "
            "WHERE task_name = 'verification.analyze' AND status = 'todo'"
        )
    )
    return int(count or 0)


async def test_submit_returns_202_pending(
    client: httpx.AsyncClient,
    db: AsyncSession,
    partner: User,
    auth_headers: Headers,
    submit_images: SubmitImages,
) -> None:
    response = await submit_images(partner)

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    submission = await submission_of(db, response)
    assert submission.analysis_status == "queued"
    assert set(submission.image_hashes) == {"documentFront", "documentBack", "selfie"}
    await db.refresh(partner)
    assert partner.verification_status == "pending"
    assert await queued_analyses(db) == 1

    status = await client.get("/api/verification/status", headers=auth_headers(partner))
    assert status.status_code == 200
    body = status.json()
    assert body["status"] == "pending"
    assert body["submissionId"] == response.json()["id"]
    assert body["analysisComplete"] is False
    assert body["extracted"] is None


async def test_analysis_extracts_and_stays_pending(
    client: httpx.AsyncClient,
    db: AsyncSession,
    partner: User,
    auth_headers: Headers,
    submit_images: SubmitImages,
) -> None:
    response = await submit_images(partner)
    ran = await run_queued_jobs(db, task_names={"verification.analyze"})
    assert ran == ["verification.analyze"]

    submission = await submission_of(db, response)
    assert submission.analysis_status == "done"
    assert submission.status == "pending"
    assert submission.extracted_name == "JOSÉ CONCEIÇÃO DA SILVA ARAÚJO"
    assert submission.extracted_birth_date == date(1987, 7, 14)
    assert submission.extracted_cpf_encrypted is not None
    assert "52998224725" not in submission.extracted_cpf_encrypted
    assert submission.analysis["checks"] == {
        "selfieOneFace": True,
        "documentHasFace": True,
        "cpfFound": True,
        "cpfNotInUse": True,
        "nameMatchesProfile": True,
        "birthDateFound": True,
        "adult": True,
    }
    assert submission.analysis["passed"] is True
    assert submission.analysis["selfieFaces"] == 1
    assert "52998224725" not in str(submission.analysis)

    await db.refresh(partner)
    assert partner.verification_status == "pending"
    body = (await client.get("/api/verification/status", headers=auth_headers(partner))).json()
    assert body["status"] == "pending"
    assert body["analysisComplete"] is True
    assert body["extracted"] == {
        "name": "JOSÉ CONCEIÇÃO DA SILVA ARAÚJO",
        "birthDate": "1987-07-14",
        "cpf": "***.982.247-**",
    }


async def test_analysis_job_is_idempotent(
    db: AsyncSession, partner: User, submit_images: SubmitImages
) -> None:
    from taskgo.verification.service import analyze_submission

    response = await submit_images(partner)
    await run_queued_jobs(db)
    submission = await submission_of(db, response)
    analysed_at = submission.analysed_at

    await analyze_submission(db, submission_id=submission.id)
    await db.refresh(submission)
    assert submission.analysed_at == analysed_at


def _two_faces_selfie() -> ImageSet:
    return ImageSet(encode(document_front()), encode(document_back()), encode(two_faces()))


def _faceless_selfie() -> ImageSet:
    return ImageSet(encode(document_front()), encode(document_back()), encode(no_face()))


def _document_without_photo() -> ImageSet:
    return ImageSet(
        encode(document_front(with_face=False)), encode(document_back()), encode(portrait())
    )


# Images are built inside the test, so a machine without the fonts skips instead of
# failing at collection.
@pytest.mark.parametrize(
    ("make_images", "failed_check"),
    [
        (_two_faces_selfie, "selfieOneFace"),
        (_faceless_selfie, "selfieOneFace"),
        (_document_without_photo, "documentHasFace"),
    ],
    ids=["two-faces", "no-face", "document-without-photo"],
)
async def test_face_checks_fail(
    db: AsyncSession,
    partner: User,
    submit_images: SubmitImages,
    make_images: Callable[[], ImageSet],
    failed_check: str,
) -> None:
    response = await submit_images(partner, make_images())
    await run_queued_jobs(db)

    submission = await submission_of(db, response)
    checks = submission.analysis["checks"]
    assert checks[failed_check] is False
    assert [name for name, ok in checks.items() if not ok] == [failed_check]
    assert submission.analysis["passed"] is False
    assert submission.status == "pending"


async def test_profile_name_mismatch_flagged(
    db: AsyncSession, make_user: MakeUser, submit_images: SubmitImages
) -> None:
    stranger = await make_user(role="partner", name="Maria Pereira")
    response = await submit_images(stranger)
    await run_queued_jobs(db)

    submission = await submission_of(db, response)
    assert submission.analysis["nameMatch"] == "mismatch"
    assert submission.analysis["checks"]["nameMatchesProfile"] is False
    assert submission.analysis["checks"]["cpfFound"] is True


async def test_exif_rotated_document_is_read(
    db: AsyncSession, partner: User, submit_images: SubmitImages
) -> None:
    images = ImageSet(
        document_front=sideways_with_exif(document_front()),
        document_back=encode(document_back()),
        selfie=sideways_with_exif(portrait()),
    )
    response = await submit_images(partner, images)
    await run_queued_jobs(db)

    submission = await submission_of(db, response)
    assert submission.extracted_name == "JOSÉ CONCEIÇÃO DA SILVA ARAÚJO"
    assert submission.analysis["ocrRotation"] == 0
    assert submission.analysis["passed"] is True


async def test_missing_images_mark_analysis_failed(
    db: AsyncSession, partner: User, submit_images: SubmitImages
) -> None:
    from taskgo.uploads.models import Upload
    from taskgo.uploads.service import get_storage

    response = await submit_images(partner)
    submission = await submission_of(db, response)
    selfie = await db.get(Upload, submission.selfie_id)
    assert selfie is not None
    await get_storage().delete(selfie.storage_key)

    await run_queued_jobs(db)
    await db.refresh(submission)
    assert submission.analysis_status == "failed"
    assert submission.analysis == {"error": "images_missing"}
    assert submission.status == "pending"


async def test_client_cannot_submit(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    customer = await make_user(role="client")
    body = {
        "documentFront": str(uuid.uuid4()),
        "documentBack": str(uuid.uuid4()),
        "selfie": str(uuid.uuid4()),
    }
    response = await client.post(
        "/api/verification/submit", json=body, headers=auth_headers(customer)
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "auth.role_required"


async def _three_uploads(
    client: httpx.AsyncClient, headers: dict[str, str], *, selfie_purpose: str = "selfie"
) -> dict[str, str]:
    images = good_images()
    return {
        "documentFront": await upload_image(
            client, headers, images.document_front, purpose="document"
        ),
        "documentBack": await upload_image(
            client, headers, images.document_back, purpose="document"
        ),
        "selfie": await upload_image(client, headers, images.selfie, purpose=selfie_purpose),
    }


async def test_submit_validation_errors(
    client: httpx.AsyncClient,
    db: AsyncSession,
    partner: User,
    make_user: MakeUser,
    auth_headers: Headers,
) -> None:
    headers = auth_headers(partner)
    ids = await _three_uploads(client, headers)
    url = "/api/verification/submit"

    same = {**ids, "documentBack": ids["documentFront"]}
    response = await client.post(url, json=same, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "verification.duplicate_upload"
    assert response.json()["error"]["details"]["field"] == "documentBack"

    # The front's bytes uploaded again get a new id but show the same image.
    again = await upload_image(client, headers, good_images().document_front, purpose="document")
    response = await client.post(url, json={**ids, "documentBack": again}, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "verification.duplicate_upload"
    assert response.json()["error"]["details"]["field"] == "documentBack"

    swapped = {**ids, "selfie": ids["documentBack"], "documentBack": ids["selfie"]}
    response = await client.post(url, json=swapped, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "verification.wrong_upload_purpose"
    assert response.json()["error"]["details"]["field"] == "documentBack"

    other = await make_user(role="partner", name="Outra Pessoa")
    foreign = await _three_uploads(client, auth_headers(other))
    response = await client.post(url, json={**ids, "selfie": foreign["selfie"]}, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "verification.upload_not_found"
    assert response.json()["error"]["details"]["field"] == "selfie"

    response = await client.post(url, json={**ids, "selfie": "not-a-uuid"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "selfie"

    # Nothing of the failed attempts was kept.
    assert await db.scalar(select(VerificationSubmission.id).limit(1)) is None
    await db.refresh(partner)
    assert partner.verification_status == "unverified"


async def test_second_submit_while_pending_409(
    client: httpx.AsyncClient, partner: User, auth_headers: Headers, submit_images: SubmitImages
) -> None:
    assert (await submit_images(partner)).status_code == 202
    second = await submit_images(partner)
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "verification.already_pending"


async def test_submit_replayed_with_idempotency_key(
    client: httpx.AsyncClient, db: AsyncSession, partner: User, auth_headers: Headers
) -> None:
    headers = {**auth_headers(partner), "Idempotency-Key": "kyc-attempt-1"}
    ids = await _three_uploads(client, auth_headers(partner))
    first = await client.post("/api/verification/submit", json=ids, headers=headers)
    again = await client.post("/api/verification/submit", json=ids, headers=headers)

    assert first.status_code == 202
    assert again.status_code == 202
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert await queued_analyses(db) == 1


async def test_verified_partner_cannot_submit(
    make_user: MakeUser, submit_images: SubmitImages
) -> None:
    verified = await make_user(role="partner", name="José Araújo", verification_status="verified")
    response = await submit_images(verified)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "verification.already_verified"


async def test_status_without_submission(
    client: httpx.AsyncClient, partner: User, auth_headers: Headers
) -> None:
    response = await client.get("/api/verification/status", headers=auth_headers(partner))
    assert response.status_code == 200
    assert response.json()["status"] == "unverified"
    assert response.json()["submissionId"] is None


async def test_concurrent_submits_one_wins(
    live_client: httpx.AsyncClient, make_live_user: MakeUser, auth_headers: Headers
) -> None:
    partner = await make_live_user(role="partner", name="José Araújo")
    headers = auth_headers(partner)
    first = await _three_uploads(live_client, headers)
    second = await _three_uploads(live_client, headers)

    responses = await asyncio.gather(
        live_client.post("/api/verification/submit", json=first, headers=headers),
        live_client.post("/api/verification/submit", json=second, headers=headers),
    )
    assert sorted(response.status_code for response in responses) == [202, 409]
    conflict = next(response for response in responses if response.status_code == 409)
    assert conflict.json()["error"]["code"] == "verification.already_pending"

    async with session_scope() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(VerificationSubmission)
            .where(VerificationSubmission.user_id == partner.id)
        )
    assert count == 1


async def test_unreadable_cpf_still_shows_status(
    client: httpx.AsyncClient,
    db: AsyncSession,
    partner: User,
    auth_headers: Headers,
    submit_images: SubmitImages,
) -> None:
    response = await submit_images(partner)
    await run_queued_jobs(db)
    submission = await submission_of(db, response)
    # A value sealed with a key id that is no longer configured.
    submission.extracted_cpf_encrypted = "retired:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    await db.flush()

    status = await client.get("/api/verification/status", headers=auth_headers(partner))
    assert status.status_code == 200
    assert status.json()["extracted"]["cpf"] is None
    assert status.json()["extracted"]["name"] == "JOSÉ CONCEIÇÃO DA SILVA ARAÚJO"


async def test_resubmit_reused_selfie_named(
    client: httpx.AsyncClient,
    db: AsyncSession,
    partner: User,
    make_user: MakeUser,
    auth_headers: Headers,
) -> None:
    headers = auth_headers(partner)
    first = await _three_uploads(client, headers)
    response = await client.post("/api/verification/submit", json=first, headers=headers)
    assert response.status_code == 202
    admin = await make_user(role="admin", name="Beatriz Admin")
    await review.reject(
        db, submission_id=uuid.UUID(response.json()["id"]), admin=admin, reason="Selfie escura."
    )

    fresh = await _three_uploads(client, headers)
    again = {**fresh, "selfie": first["selfie"]}
    response = await client.post("/api/verification/submit", json=again, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "verification.upload_already_used"
    assert response.json()["error"]["details"]["field"] == "selfie"

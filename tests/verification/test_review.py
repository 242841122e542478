"""Admin decisions: approval stores the verified CPF, rejection keeps a reason; both are
audited and notified, and each submission is decided once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.admin.models import AuditLog
from taskgo.crypto import decrypt_field
from taskgo.db.session import session_scope
from taskgo.errors import AppError
from taskgo.jobs.inline import run_queued_jobs
from taskgo.notifications.models import Notification
from taskgo.users.models import User
from taskgo.verification import review
from taskgo.verification.extraction import age_on
from taskgo.verification.models import VerificationSubmission
from taskgo.verification.service import cpf_fingerprint
from tests.verification.conftest import Headers, ImageSet, MakeUser, SubmitImages, upload_image
from tests.verification.documents import (
    Holder,
    document_back,
    document_front,
    encode,
    needs_ocr,
    portrait,
)

pytestmark = needs_ocr


async def submitted(
    db: AsyncSession, submit_images: SubmitImages, user: User, images: ImageSet | None = None
) -> VerificationSubmission:
    response = await submit_images(user, images)
    assert response.status_code == 202, response.text
    await run_queued_jobs(db, task_names={"verification.analyze"})
    submission = await db.get(VerificationSubmission, uuid.UUID(response.json()["id"]))
    assert submission is not None
    await db.refresh(submission)
    return submission


async def audit_entries(db: AsyncSession, submission_id: uuid.UUID) -> list[AuditLog]:
    rows = await db.scalars(
        select(AuditLog).where(AuditLog.target_id == str(submission_id)).order_by(AuditLog.id)
    )
    return list(rows)


async def notifications_of(db: AsyncSession, user: User) -> list[Notification]:
    rows = await db.scalars(select(Notification).where(Notification.user_id == user.id))
    return list(rows)


async def test_approve_verifies_partner(
    client: httpx.AsyncClient,
    db: AsyncSession,
    partner: User,
    admin: User,
    auth_headers: Headers,
    submit_images: SubmitImages,
) -> None:
    submission = await submitted(db, submit_images, partner)
    await review.approve(db, submission_id=submission.id, admin=admin)

    await db.refresh(partner)
    assert partner.verification_status == "verified"
    assert partner.verified_at is not None
    assert partner.verified_cpf_encrypted is not None
    cpf = decrypt_field(partner.verified_cpf_encrypted, context="users.verified_cpf")
    assert cpf == "52998224725"
    assert submission.status == "approved"
    assert submission.decided_by_id == admin.id

    entries = await audit_entries(db, submission.id)
    assert [entry.action for entry in entries] == ["verification.approved"]
    assert entries[0].actor_id == admin.id
    assert entries[0].details["cpfSource"] == "ocr"
    assert "52998224725" not in str(entries[0].details)

    notes = await notifications_of(db, partner)
    assert [note.kind for note in notes] == ["verification_approved"]
    assert notes[0].title == "Identidade verificada"
    assert notes[0].data["submissionId"] == str(submission.id)

    status = await client.get("/api/verification/status", headers=auth_headers(partner))
    assert status.json()["status"] == "verified"
    me = await client.get("/api/me", headers=auth_headers(partner))
    assert me.json()["verificationStatus"] == "verified"


async def test_reject_keeps_reason_and_allows_resubmit(
    client: httpx.AsyncClient,
    db: AsyncSession,
    partner: User,
    admin: User,
    auth_headers: Headers,
    submit_images: SubmitImages,
) -> None:
    submission = await submitted(db, submit_images, partner)
    reason = "Foto do documento cortada.   Envie a frente inteira."
    await review.reject(db, submission_id=submission.id, admin=admin, reason=reason)

    await db.refresh(partner)
    assert partner.verification_status == "rejected"
    assert partner.verified_cpf_encrypted is None
    assert submission.rejection_reason == "Foto do documento cortada. Envie a frente inteira."

    entries = await audit_entries(db, submission.id)
    assert [entry.action for entry in entries] == ["verification.rejected"]
    assert entries[0].details["reason"] == submission.rejection_reason

    notes = await notifications_of(db, partner)
    assert [note.kind for note in notes] == ["verification_rejected"]
    assert submission.rejection_reason in notes[0].body

    status = (await client.get("/api/verification/status", headers=auth_headers(partner))).json()
    assert status["status"] == "rejected"
    assert status["reason"] == submission.rejection_reason

    again = await submit_images(partner)
    assert again.status_code == 202
    await db.refresh(partner)
    assert partner.verification_status == "pending"


@pytest.mark.parametrize("reason", [None, "", "   ", "ruim"])
async def test_reject_needs_a_reason(
    db: AsyncSession, partner: User, admin: User, submit_images: SubmitImages, reason: str | None
) -> None:
    submission = await submitted(db, submit_images, partner)
    with pytest.raises(AppError) as error:
        await review.reject(db, submission_id=submission.id, admin=admin, reason=reason)
    assert error.value.code == "verification.reason_required"
    await db.refresh(submission)
    assert submission.status == "pending"


async def test_decided_once(
    db: AsyncSession, partner: User, admin: User, submit_images: SubmitImages
) -> None:
    submission = await submitted(db, submit_images, partner)
    await review.approve(db, submission_id=submission.id, admin=admin)

    with pytest.raises(AppError) as error:
        await review.reject(db, submission_id=submission.id, admin=admin, reason="Mudei de ideia")
    assert error.value.code == "verification.already_decided"
    assert error.value.status == 409
    await db.refresh(partner)
    assert partner.verification_status == "verified"


async def test_admin_typed_cpf_wins(
    db: AsyncSession, partner: User, admin: User, submit_images: SubmitImages
) -> None:
    submission = await submitted(db, submit_images, partner)
    await review.approve(db, submission_id=submission.id, admin=admin, cpf_input="111.444.777-35")

    await db.refresh(partner)
    assert partner.verified_cpf_encrypted is not None
    stored = decrypt_field(partner.verified_cpf_encrypted, context="users.verified_cpf")
    assert stored == "11144477735"
    entries = await audit_entries(db, submission.id)
    assert entries[0].details["cpfSource"] == "admin"


async def test_invalid_typed_cpf_rejected(
    db: AsyncSession, partner: User, admin: User, submit_images: SubmitImages
) -> None:
    submission = await submitted(db, submit_images, partner)
    with pytest.raises(AppError) as error:
        await review.approve(
            db, submission_id=submission.id, admin=admin, cpf_input="529.982.247-26"
        )
    assert error.value.code == "verification.invalid_cpf"
    assert error.value.field == "cpf"


async def test_cpf_required_when_unread(
    db: AsyncSession, partner: User, admin: User, submit_images: SubmitImages
) -> None:
    # The back twice, as two different files (the same bytes twice are rejected at submit).
    unreadable = ImageSet(
        encode(document_back(), "PNG"), encode(document_back()), encode(portrait())
    )
    submission = await submitted(db, submit_images, partner, unreadable)
    assert submission.extracted_cpf_encrypted is None
    assert submission.analysis["checks"]["cpfFound"] is False

    with pytest.raises(AppError) as error:
        await review.approve(db, submission_id=submission.id, admin=admin)
    assert error.value.code == "verification.cpf_required"

    await review.approve(db, submission_id=submission.id, admin=admin, cpf_input="52998224725")
    await db.refresh(partner)
    assert partner.verification_status == "verified"


async def test_cpf_of_another_partner_blocked(
    db: AsyncSession,
    partner: User,
    admin: User,
    make_user: MakeUser,
    submit_images: SubmitImages,
) -> None:
    first = await submitted(db, submit_images, partner)
    await review.approve(db, submission_id=first.id, admin=admin)

    impostor = await make_user(role="partner", name="José Araújo")
    second = await submitted(db, submit_images, impostor)
    assert second.analysis["checks"]["cpfNotInUse"] is False

    with pytest.raises(AppError) as error:
        await review.approve(db, submission_id=second.id, admin=admin)
    assert error.value.code == "verification.cpf_in_use"
    assert error.value.status == 409
    await db.refresh(impostor)
    assert impostor.verification_status == "pending"


async def test_other_holder_document(
    db: AsyncSession, make_user: MakeUser, submit_images: SubmitImages
) -> None:
    holder = Holder(
        name="MARIA DAS GRAÇAS PÊGO ÂNGELO", cpf="111.444.777-35", birth_date="29/02/2000"
    )
    maria = await make_user(role="partner", name="Maria das Graças Ângelo")
    images = ImageSet(encode(document_front(holder)), encode(document_back()), encode(portrait()))
    submission = await submitted(db, submit_images, maria, images)

    assert submission.extracted_name == "MARIA DAS GRAÇAS PÊGO ÂNGELO"
    assert submission.analysis["nameMatch"] == "match"
    assert submission.analysis["age"] == age_on(date(2000, 2, 29), datetime.now(UTC).date())
    assert submission.analysis["passed"] is True


async def test_concurrent_decisions_one_wins(
    live_client: httpx.AsyncClient,
    make_live_user: MakeUser,
    auth_headers: Headers,
) -> None:
    partner = await make_live_user(role="partner", name="José Araújo")
    first_admin = await make_live_user(role="admin", name="Admin Um")
    second_admin = await make_live_user(role="admin", name="Admin Dois")
    headers = auth_headers(partner)
    images = {
        "documentFront": encode(document_front()),
        "documentBack": encode(document_back()),
        "selfie": encode(portrait()),
    }
    ids = {}
    for field, data in images.items():
        purpose = "selfie" if field == "selfie" else "document"
        ids[field] = await upload_image(live_client, headers, data, purpose=purpose)
    response = await live_client.post("/api/verification/submit", json=ids, headers=headers)
    submission_id = uuid.UUID(response.json()["id"])

    async def approve_as(admin: User) -> str:
        try:
            async with session_scope() as session:
                await review.approve(
                    session, submission_id=submission_id, admin=admin, cpf_input="52998224725"
                )
        except AppError as error:
            return error.code
        return "approved"

    async def reject_as(admin: User) -> str:
        try:
            async with session_scope() as session:
                await review.reject(
                    session, submission_id=submission_id, admin=admin, reason="Documento ilegível"
                )
        except AppError as error:
            return error.code
        return "rejected"

    outcomes = await asyncio.gather(approve_as(first_admin), reject_as(second_admin))
    assert sorted(outcomes) in (
        ["approved", "verification.already_decided"],
        ["rejected", "verification.already_decided"],
    )

    async with session_scope() as session:
        stored = await session.get(VerificationSubmission, submission_id)
        user = await session.get(User, partner.id)
        entries = await session.scalars(
            select(AuditLog).where(AuditLog.target_id == str(submission_id))
        )
        assert stored is not None
        assert user is not None
        winner = "approved" if "approved" in outcomes else "rejected"
        assert stored.status == winner
        assert user.verification_status == ("verified" if winner == "approved" else "rejected")
        assert len(list(entries)) == 1


async def test_late_analysis_keeps_approved_cpf(
    db: AsyncSession,
    partner: User,
    admin: User,
    make_user: MakeUser,
    submit_images: SubmitImages,
) -> None:
    response = await submit_images(partner)
    assert response.status_code == 202, response.text
    submission_id = uuid.UUID(response.json()["id"])
    # Approved before the analysis job ran, with the CPF the admin typed.
    await review.approve(db, submission_id=submission_id, admin=admin, cpf_input="111.444.777-35")
    await run_queued_jobs(db, task_names={"verification.analyze"})

    submission = await db.get(VerificationSubmission, submission_id)
    assert submission is not None
    await db.refresh(submission)
    assert submission.analysis_status == "done"
    assert submission.cpf_fingerprint == cpf_fingerprint("11144477735")

    impostor = await make_user(role="partner", name="Maria Souza")
    other = await submitted(db, submit_images, impostor)
    with pytest.raises(AppError) as error:
        await review.approve(db, submission_id=other.id, admin=admin, cpf_input="111.444.777-35")
    assert error.value.code == "verification.cpf_in_use"


async def _live_submission(client: httpx.AsyncClient, headers: dict[str, str]) -> uuid.UUID:
    ids = {
        "documentFront": await upload_image(
            client, headers, encode(document_front()), purpose="document"
        ),
        "documentBack": await upload_image(
            client, headers, encode(document_back()), purpose="document"
        ),
        "selfie": await upload_image(client, headers, encode(portrait()), purpose="selfie"),
    }
    response = await client.post("/api/verification/submit", json=ids, headers=headers)
    assert response.status_code == 202, response.text
    return uuid.UUID(response.json()["id"])


async def test_concurrent_same_cpf_one_verified(
    live_client: httpx.AsyncClient, make_live_user: MakeUser, auth_headers: Headers
) -> None:
    admin = await make_live_user(role="admin", name="Admin Um")
    partners = [await make_live_user(role="partner", name="José Araújo") for _ in range(2)]
    submission_ids = [
        await _live_submission(live_client, auth_headers(partner)) for partner in partners
    ]

    async def approve(submission_id: uuid.UUID) -> str:
        try:
            async with session_scope() as session:
                await review.approve(
                    session, submission_id=submission_id, admin=admin, cpf_input="111.444.777-35"
                )
        except AppError as error:
            assert error.status == 409
            assert error.field == "cpf"
            return error.code
        return "approved"

    outcomes = await asyncio.gather(*(approve(item) for item in submission_ids))
    assert sorted(outcomes) == ["approved", "verification.cpf_in_use"]

    async with session_scope() as session:
        statuses = [
            (await session.get(User, partner.id, populate_existing=True)).verification_status  # type: ignore[union-attr]
            for partner in partners
        ]
        submissions = [
            await session.get(VerificationSubmission, item, populate_existing=True)
            for item in submission_ids
        ]
    assert sorted(statuses) == ["pending", "verified"]
    assert sorted(item.status for item in submissions if item is not None) == [
        "approved",
        "pending",
    ]

"""Images the analysis cannot read end in manual review, in bounded time, never queued."""

from __future__ import annotations

import io
import random
import string
import time
import uuid
from datetime import date

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.jobs.inline import run_queued_jobs
from taskgo.uploads.models import Upload
from taskgo.uploads.service import get_storage
from taskgo.users.models import User
from taskgo.verification.analysis import (
    OCR_BUDGET_SECONDS,
    AnalysisError,
    read_document,
)
from taskgo.verification.models import VerificationSubmission
from taskgo.verification.tasks import ANALYZE_MAX_ATTEMPTS
from tests.verification.conftest import Headers, ImageSet, MakeUser, SubmitImages
from tests.verification.documents import (
    REGULAR_FONT,
    document_back,
    encode,
    needs_ocr,
    portrait,
)

pytestmark = needs_ocr

LONG_NAME = (
    "MARIA APARECIDA SANTOS OLIVEIRA PEREIRA COSTA RODRIGUES ALMEIDA SOUZA LIMA ARAUJO "
    "FERNANDES CARVALHO GOMES MARTINS ROCHA RIBEIRO ALVES MONTEIRO MENDES BARROS FREITAS "
    "BARBOSA PINTO MOURA CAVALCANTI DIAS CASTRO CAMPOS CARDOSO"
)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def thin_image() -> Image.Image:
    pixels = np.random.default_rng(1).integers(0, 255, (6000, 1, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def long_name_card() -> Image.Image:
    image = Image.new("L", (2600, 300), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(REGULAR_FONT), 19)
    draw.text((20, 40), "NOME", fill=0, font=font)
    draw.text((20, 100), LONG_NAME, fill=0, font=font)
    return image


def dense_text() -> Image.Image:
    rng = random.Random(1)
    image = Image.new("L", (2600, 1800), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    letters = string.ascii_letters + " "
    for y in range(0, 1800, 11):
        line = "".join(rng.choice(letters) for _ in range(450))
        draw.text((0, y), line, fill=0, font=font)
    return image


async def analysed(
    db: AsyncSession, submit_images: SubmitImages, partner: User, images: ImageSet
) -> VerificationSubmission:
    response = await submit_images(partner, images)
    assert response.status_code == 202, response.text
    await run_queued_jobs(db, task_names={"verification.analyze"})
    submission = await db.get(VerificationSubmission, uuid.UUID(response.json()["id"]))
    assert submission is not None
    await db.refresh(submission)
    return submission


async def partner_status(
    client: httpx.AsyncClient, auth_headers: Headers, partner: User
) -> dict[str, object]:
    response = await client.get("/api/verification/status", headers=auth_headers(partner))
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


async def test_thin_document_to_manual_review(
    client: httpx.AsyncClient,
    db: AsyncSession,
    partner: User,
    auth_headers: Headers,
    submit_images: SubmitImages,
) -> None:
    images = ImageSet(png(thin_image()), encode(document_back()), encode(portrait()))
    submission = await analysed(db, submit_images, partner, images)

    assert submission.analysis_status == "failed"
    assert submission.analysis == {"error": "document_image_degenerate"}
    assert submission.status == "pending"
    body = await partner_status(client, auth_headers, partner)
    assert body["status"] == "pending"
    assert body["analysisComplete"] is True
    assert body["analysisStatus"] == "manual_review"


async def test_long_document_name_shortened(
    db: AsyncSession, make_user: MakeUser, submit_images: SubmitImages
) -> None:
    maria = await make_user(role="partner", name="Maria Aparecida")
    images = ImageSet(png(long_name_card()), encode(document_back()), encode(portrait()))
    submission = await analysed(db, submit_images, maria, images)

    assert submission.analysis_status == "done"
    assert submission.extracted_name is not None
    assert submission.extracted_name.startswith("MARIA APARECIDA SANTOS")
    assert 150 < len(submission.extracted_name) <= 200
    assert not submission.extracted_name.endswith(" ")


async def test_dense_text_stops_in_time(
    client: httpx.AsyncClient,
    db: AsyncSession,
    partner: User,
    auth_headers: Headers,
    submit_images: SubmitImages,
) -> None:
    images = ImageSet(png(dense_text()), encode(document_back()), encode(portrait()))
    response = await submit_images(partner, images)
    started = time.monotonic()
    await run_queued_jobs(db, task_names={"verification.analyze"})
    elapsed = time.monotonic() - started

    assert elapsed < OCR_BUDGET_SECONDS + 10
    submission = await db.get(VerificationSubmission, uuid.UUID(response.json()["id"]))
    assert submission is not None
    await db.refresh(submission)
    assert submission.analysis_status == "failed"
    assert submission.analysis == {"error": "ocr_timeout"}
    body = await partner_status(client, auth_headers, partner)
    assert body["analysisStatus"] == "manual_review"


def test_ocr_budget_ends_reading() -> None:
    started = time.monotonic()
    with pytest.raises(AnalysisError) as error:
        read_document([dense_text()], today=date(2026, 1, 1), budget_seconds=3)
    assert error.value.reason == "ocr_timeout"
    assert time.monotonic() - started < 8


async def test_outage_given_up_on_last_attempt(
    db: AsyncSession, partner: User, submit_images: SubmitImages
) -> None:
    response = await submit_images(partner)
    submission = await db.get(VerificationSubmission, uuid.UUID(response.json()["id"]))
    assert submission is not None
    selfie = await db.get(Upload, submission.selfie_id)
    assert selfie is not None
    # A directory where the file was: the local storage fails with an OSError, as a
    # broken disk would, which is retried like any outage.
    path = get_storage().path_for(selfie.storage_key)  # type: ignore[attr-defined]
    path.unlink()
    path.mkdir()
    try:
        with pytest.raises(OSError):
            await run_queued_jobs(db, task_names={"verification.analyze"})
        await db.refresh(submission)
        assert submission.analysis_status == "queued"
        assert submission.analysis == {"attempts": 1}

        submission.analysis = {"attempts": ANALYZE_MAX_ATTEMPTS - 1}
        await db.flush()
        await db.execute(
            text(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status) "
                "VALUES ('default', 'verification.analyze', :args, 'todo')"
            ),
            {"args": f'{{"submission_id": "{submission.id}"}}'},
        )
        await run_queued_jobs(db, task_names={"verification.analyze"})
        await db.refresh(submission)
        assert submission.analysis_status == "failed"
        assert submission.analysis == {"error": "analysis_error"}
    finally:
        path.rmdir()

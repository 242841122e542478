"""Face detection and document OCR on real photos and rendered documents.

Images go through the upload pipeline first (`process_image`), as in production, so EXIF
orientation is applied before the analysis runs.
"""

from __future__ import annotations

import io
from datetime import date

import pillow_heif
import pytest
from PIL import Image

from taskgo.uploads.images import process_image
from taskgo.verification.analysis import detect_faces, read_document
from taskgo.verification.extraction import DocumentFields
from tests.verification.documents import (
    Holder,
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

TODAY = date(2026, 12, 4)
JOSE = DocumentFields(
    cpf="52998224725", name="JOSÉ CONCEIÇÃO DA SILVA ARAÚJO", birth_date=date(1987, 7, 14)
)


def through_pipeline(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(process_image(data).data))


def test_portrait_has_one_face() -> None:
    faces = detect_faces(through_pipeline(encode(portrait())))
    assert len(faces) == 1
    face = faces[0]
    # The astronaut's face sits around x 175-270, y 65-160 in the 512 x 512 photo.
    assert 150 <= face.x <= 200
    assert 40 <= face.y <= 90
    assert 70 <= face.width <= 130


def test_two_people_two_faces() -> None:
    assert len(detect_faces(through_pipeline(encode(two_faces())))) == 2


@pytest.mark.parametrize(
    "image",
    [no_face(), document_back(), document_front(with_face=False)],
    ids=["coffee", "card-back", "card-without-photo"],
)
def test_no_face_found(image: Image.Image) -> None:
    assert detect_faces(through_pipeline(encode(image))) == []


def test_document_photo_face_found() -> None:
    faces = detect_faces(through_pipeline(encode(document_front())), min_face_fraction=0.05)
    assert len(faces) == 1
    # The photo is pasted at x 40-300, y 120-454 of the card.
    assert 40 <= faces[0].x <= 300
    assert 120 <= faces[0].y <= 454


def test_sideways_portrait_with_exif_has_one_face() -> None:
    assert len(detect_faces(through_pipeline(sideways_with_exif(portrait())))) == 1


def test_face_boxes_in_original_pixels() -> None:
    large = portrait().resize((2048, 2048))
    faces = detect_faces(large)
    assert len(faces) == 1
    # Four times the 512-pixel photo: the box scales with it.
    assert 600 <= faces[0].x <= 800
    assert 280 <= faces[0].width <= 520


def test_ocr_reads_front() -> None:
    result = read_document([through_pipeline(encode(document_front()))], today=TODAY)
    assert result.fields == JOSE
    assert result.rotation == 0


def test_ocr_other_holder() -> None:
    holder = Holder(
        name="MARIA DAS GRAÇAS PÊGO ÂNGELO", cpf="111.444.777-35", birth_date="29/02/2000"
    )
    result = read_document([through_pipeline(encode(document_front(holder), "PNG"))], today=TODAY)
    assert result.fields.cpf == "11144477735"
    assert result.fields.name == "MARIA DAS GRAÇAS PÊGO ÂNGELO"
    assert result.fields.birth_date == date(2000, 2, 29)


def test_ocr_exif_rotated_document() -> None:
    data = sideways_with_exif(document_front())
    stored_sideways = Image.open(io.BytesIO(data))
    assert stored_sideways.size == (640, 1000)

    upright = through_pipeline(data)
    assert upright.size == (1000, 640)
    result = read_document([upright], today=TODAY)
    assert result.fields == JOSE
    # EXIF already turned it upright, so the first OCR pass succeeded.
    assert result.rotation == 0


def test_ocr_sideways_without_exif_is_turned() -> None:
    turned = document_front().transpose(Image.Transpose.ROTATE_90)
    result = read_document([through_pipeline(encode(turned))], today=TODAY)
    assert result.fields == JOSE
    assert result.rotation != 0


def test_ocr_heic_document() -> None:
    pillow_heif.register_heif_opener()
    buffer = io.BytesIO()
    document_front().save(buffer, format="HEIF", quality=90)
    result = read_document([through_pipeline(buffer.getvalue())], today=TODAY)
    assert result.fields == JOSE


def test_ocr_back_alone_has_no_fields() -> None:
    result = read_document([through_pipeline(encode(document_back()))], today=TODAY)
    assert result.fields == DocumentFields()


def test_ocr_front_and_back_merged() -> None:
    images = [through_pipeline(encode(document_back())), through_pipeline(encode(document_front()))]
    assert read_document(images, today=TODAY).fields == JOSE

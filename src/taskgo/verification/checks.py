"""The automatic checks of a submission, computed from its three stored images.

`run_checks` is synchronous and CPU-bound (face detection and several OCR passes take
seconds), so the job runs it in a worker thread. Its report contains the CPF in clear
text, in memory only, and the service encrypts it before anything is stored.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from PIL import Image

from taskgo.verification.analysis import detect_faces, read_document
from taskgo.verification.extraction import (
    MIN_AGE_YEARS,
    DocumentFields,
    NameMatch,
    age_on,
    compare_names,
)

# A selfie face fills a good part of the frame. The photo on an ID card is a smaller
# share of the card, so faces down to 4 % of its shorter side count there.
SELFIE_MIN_FACE_FRACTION = 0.08
DOCUMENT_MIN_FACE_FRACTION = 0.04

# The order in which checks are listed to admins.
CHECK_NAMES = (
    "selfieOneFace",
    "documentHasFace",
    "cpfFound",
    "cpfNotInUse",
    "nameMatchesProfile",
    "birthDateFound",
    "adult",
)


@dataclass
class CheckReport:
    selfie_faces: int
    document_faces: int
    fields: DocumentFields
    name_match: NameMatch
    age: int | None
    ocr_rotation: int
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(self.checks.get(name, False) for name in CHECK_NAMES)

    def as_json(self) -> dict[str, Any]:
        """Return the report for storage, without the CPF."""
        return {
            "selfieFaces": self.selfie_faces,
            "documentFaces": self.document_faces,
            "nameMatch": self.name_match.value,
            "age": self.age,
            "ocrRotation": self.ocr_rotation,
            "checks": {name: self.checks.get(name, False) for name in CHECK_NAMES},
            "passed": self.passed,
        }


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def run_checks(
    *,
    document_front: bytes,
    document_back: bytes,
    selfie: bytes,
    profile_name: str,
    today: date,
) -> CheckReport:
    """Detect faces, read the document and compare it with the profile.

    The `cpfNotInUse` check needs the database, so it is left False here and set by the
    caller.
    """
    front_image = _open(document_front)
    back_image = _open(document_back)
    selfie_image = _open(selfie)

    selfie_faces = len(detect_faces(selfie_image, min_face_fraction=SELFIE_MIN_FACE_FRACTION))
    document_faces = len(detect_faces(front_image, min_face_fraction=DOCUMENT_MIN_FACE_FRACTION))
    ocr = read_document([front_image, back_image], today=today)
    fields = ocr.fields
    name_match = compare_names(fields.name, profile_name)
    age = age_on(fields.birth_date, today) if fields.birth_date else None

    checks = {
        "selfieOneFace": selfie_faces == 1,
        "documentHasFace": document_faces >= 1,
        "cpfFound": fields.cpf is not None,
        "cpfNotInUse": False,
        "nameMatchesProfile": name_match is NameMatch.MATCH,
        "birthDateFound": fields.birth_date is not None,
        "adult": age is not None and age >= MIN_AGE_YEARS,
    }
    return CheckReport(
        selfie_faces=selfie_faces,
        document_faces=document_faces,
        fields=fields,
        name_match=name_match,
        age=age,
        ocr_rotation=ocr.rotation,
        checks=checks,
    )

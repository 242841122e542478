"""Image analysis for identity checks: face detection (OpenCV) and document OCR (Tesseract).

Everything here is synchronous and CPU-bound; the verification job calls it in a worker
thread. Results are plain dataclasses so they can be stored as JSON with the submission.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import cv2
import numpy as np
import pytesseract
import structlog
from PIL import Image, ImageOps

from taskgo.verification.extraction import DocumentFields, extract_fields, merge_fields

log = structlog.get_logger(__name__)

# Faces are searched on a copy whose longer side is at most this many pixels: the cascades
# gain nothing from more detail, and the time grows with the pixel count.
FACE_SEARCH_MAX_SIDE = 1024
# Tesseract reads best when capital letters are 20-40 pixels tall. Phone photos of a card
# are usually 1500-4000 pixels wide, so the long side is scaled into this range.
OCR_MIN_SIDE = 1600
OCR_MAX_SIDE = 2600
OCR_TIMEOUT_SECONDS = 60
OCR_LANGUAGE = "por"
# CPF, name and birth date.
_FIELD_COUNT = 3

# A box from one cascade and one from the other count as the same face above this
# intersection-over-union.
_AGREEMENT_IOU = 0.4

_cascades = threading.local()


@dataclass(frozen=True, slots=True)
class FaceBox:
    """A detected face, in pixels of the analysed image."""

    x: int
    y: int
    width: int
    height: int

    def iou(self, other: FaceBox) -> float:
        left = max(self.x, other.x)
        top = max(self.y, other.y)
        right = min(self.x + self.width, other.x + other.width)
        bottom = min(self.y + self.height, other.y + other.height)
        if right <= left or bottom <= top:
            return 0.0
        overlap = (right - left) * (bottom - top)
        union = self.width * self.height + other.width * other.height - overlap
        return overlap / union


@dataclass(frozen=True, slots=True)
class OcrResult:
    fields: DocumentFields
    # Degrees (counter-clockwise) the image was turned for the OCR pass that read it.
    rotation: int


def _load_cascades() -> tuple[cv2.CascadeClassifier, cv2.CascadeClassifier]:
    # CascadeClassifier objects are not safe to share across threads, so each worker
    # thread loads its own pair once.
    pair: tuple[cv2.CascadeClassifier, cv2.CascadeClassifier] | None = getattr(
        _cascades, "pair", None
    )
    if pair is None:
        # The cascade XML files ship inside the opencv-python wheels (4.x).
        directory: str = cv2.data.haarcascades  # type: ignore[attr-defined]
        pair = (
            cv2.CascadeClassifier(directory + "haarcascade_frontalface_default.xml"),
            cv2.CascadeClassifier(directory + "haarcascade_frontalface_alt2.xml"),
        )
        if any(cascade.empty() for cascade in pair):
            raise RuntimeError(f"OpenCV face cascades missing from {directory}")
        _cascades.pair = pair
    return pair


def _to_grey_array(image: Image.Image, *, max_side: int) -> tuple[np.ndarray, float]:
    grey = ImageOps.grayscale(image)
    scale = min(1.0, max_side / max(grey.size))
    if scale < 1.0:
        new_size = (max(1, round(grey.width * scale)), max(1, round(grey.height * scale)))
        grey = grey.resize(new_size, Image.Resampling.LANCZOS)
    return np.asarray(grey, dtype=np.uint8), scale


def _as_boxes(raw: Sequence[Sequence[int]]) -> list[FaceBox]:
    return [FaceBox(int(x), int(y), int(w), int(h)) for (x, y, w, h) in raw]


def detect_faces(image: Image.Image, *, min_face_fraction: float = 0.08) -> list[FaceBox]:
    """Find frontal faces no smaller than `min_face_fraction` of the image's shorter side.

    Two Haar cascades trained differently must both report a face at the same place
    before it counts, which removes most of the single-cascade false positives on
    textures and printed patterns. Boxes are returned in the input image's pixels.
    """
    pixels, scale = _to_grey_array(image, max_side=FACE_SEARCH_MAX_SIDE)
    min_side = max(24, int(min(pixels.shape) * min_face_fraction))
    default, alt2 = _load_cascades()

    faces = _agreeing_faces(pixels, default, alt2, min_side=min_side)
    if not faces:
        # Under- or over-exposed photos lose the light and dark bands the cascades look
        # for; local contrast equalization brings them back.
        clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
        faces = _agreeing_faces(clahe.apply(pixels), default, alt2, min_side=min_side)

    return [
        FaceBox(
            round(face.x / scale),
            round(face.y / scale),
            round(face.width / scale),
            round(face.height / scale),
        )
        for face in faces
    ]


def _agreeing_faces(
    pixels: np.ndarray,
    first: cv2.CascadeClassifier,
    second: cv2.CascadeClassifier,
    *,
    min_side: int,
) -> list[FaceBox]:
    first_boxes = _as_boxes(
        first.detectMultiScale(
            pixels, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side)
        )
    )
    if not first_boxes:
        return []
    second_boxes = _as_boxes(
        second.detectMultiScale(
            pixels, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side)
        )
    )

    agreed: list[FaceBox] = []
    for box in first_boxes:
        if any(box.iou(other) >= _AGREEMENT_IOU for other in second_boxes) and not any(
            box.iou(kept) > 0 for kept in agreed
        ):
            agreed.append(box)
    return agreed


def _prepare_for_ocr(image: Image.Image) -> Image.Image:
    grey = ImageOps.grayscale(image)
    long_side = max(grey.size)
    if long_side < OCR_MIN_SIDE:
        factor = OCR_MIN_SIDE / long_side
    elif long_side > OCR_MAX_SIDE:
        factor = OCR_MAX_SIDE / long_side
    else:
        factor = 1.0
    if factor != 1.0:
        size = (round(grey.width * factor), round(grey.height * factor))
        grey = grey.resize(size, Image.Resampling.LANCZOS)
    return ImageOps.autocontrast(grey, cutoff=1)


def read_text(image: Image.Image) -> str:
    """Run Tesseract (Portuguese model, automatic page segmentation) on the image."""
    return str(
        pytesseract.image_to_string(
            image, lang=OCR_LANGUAGE, config="--psm 3", timeout=OCR_TIMEOUT_SECONDS
        )
    )


def read_document(images: list[Image.Image], *, today: date) -> OcrResult:
    """OCR the document sides and extract CPF, name and birth date.

    Every side is read upright first. When the sides together still lack a field, each
    side that yielded nothing is read again turned by 90, 270 and 180 degrees, because
    cards are often photographed sideways without an EXIF orientation tag. The first
    turn that yields a field wins. A card back without any field costs one pass only
    when the front already gave everything.
    """
    prepared = [_prepare_for_ocr(image) for image in images]
    upright = [extract_fields(read_text(side), today=today) for side in prepared]
    collected = list(upright)
    rotation_used = 0

    if merge_fields(collected).count() < _FIELD_COUNT:
        for index, side in enumerate(prepared):
            if collected[index].count() > 0:
                continue
            for rotation in (90, 270, 180):
                fields = extract_fields(read_text(side.rotate(rotation, expand=True)), today=today)
                if fields.count() > 0:
                    collected[index] = fields
                    rotation_used = rotation_used or rotation
                    break

    return OcrResult(fields=merge_fields(collected), rotation=rotation_used)

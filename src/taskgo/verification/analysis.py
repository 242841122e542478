"""Image analysis for identity checks: face detection (OpenCV) and document OCR (Tesseract).

Everything here is synchronous and CPU-bound; the verification job calls it in a worker
thread. Results are plain dataclasses so they can be stored as JSON with the submission.
"""

from __future__ import annotations

import threading
import time
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
# A card side reads in about a second. Dense or unusual images can keep Tesseract busy for
# minutes, so each pass is stopped after OCR_TIMEOUT_SECONDS and all the passes of one
# submission together get OCR_BUDGET_SECONDS. With face detection (well under a second on
# the scaled copies) one submission keeps a worker thread for about 35 s at most.
OCR_TIMEOUT_SECONDS = 15
OCR_BUDGET_SECONDS = 30
# Passes are not started with less time than this left: they would only time out.
_OCR_MIN_PASS_SECONDS = 2
OCR_LANGUAGE = "por"
# A document photo narrower than this, or longer than MAX_ASPECT times its width, cannot
# show a legible card (a card is about 1.6 times as long as it is wide, and a photo of one
# leaves a margin).
DOCUMENT_MIN_SIDE = 100
DOCUMENT_MAX_ASPECT = 10
# CPF, name and birth date.
_FIELD_COUNT = 3

# A box from one cascade and one from the other count as the same face above this
# intersection-over-union.
_AGREEMENT_IOU = 0.4

_cascades = threading.local()


class AnalysisError(Exception):
    """The images cannot be analysed automatically; `reason` is a stable code stored with
    the submission and shown to admins, who then decide from the images."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


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


def check_document_size(image: Image.Image) -> None:
    """Refuse a document photo too small or too thin to hold a legible card."""
    short_side, long_side = sorted(image.size)
    if short_side < DOCUMENT_MIN_SIDE or long_side > short_side * DOCUMENT_MAX_ASPECT:
        raise AnalysisError(
            "document_image_degenerate",
            f"document image of {image.width} x {image.height} pixels cannot hold a card",
        )


def _prepare_for_ocr(image: Image.Image) -> Image.Image:
    check_document_size(image)
    grey = ImageOps.grayscale(image)
    long_side = max(grey.size)
    if long_side < OCR_MIN_SIDE:
        factor = OCR_MIN_SIDE / long_side
    elif long_side > OCR_MAX_SIDE:
        factor = OCR_MAX_SIDE / long_side
    else:
        factor = 1.0
    if factor != 1.0:
        size = (max(1, round(grey.width * factor)), max(1, round(grey.height * factor)))
        grey = grey.resize(size, Image.Resampling.LANCZOS)
    return ImageOps.autocontrast(grey, cutoff=1)


class _OcrClock:
    """The time left for the OCR passes of one document."""

    def __init__(self, budget_seconds: float) -> None:
        self.deadline = time.monotonic() + budget_seconds

    def next_timeout(self) -> float:
        left = self.deadline - time.monotonic()
        if left < _OCR_MIN_PASS_SECONDS:
            raise AnalysisError("ocr_timeout", "document OCR used up its time budget")
        return min(OCR_TIMEOUT_SECONDS, left)


def read_text(image: Image.Image, *, timeout: float = OCR_TIMEOUT_SECONDS) -> str:
    """Run Tesseract (Portuguese model, automatic page segmentation) on the image.

    Tesseract is killed after `timeout` seconds, which raises AnalysisError.
    """
    try:
        return str(
            pytesseract.image_to_string(image, lang=OCR_LANGUAGE, config="--psm 3", timeout=timeout)
        )
    except RuntimeError as exc:
        # pytesseract reports its own kill of the process with this message only.
        if "timeout" not in str(exc).lower():
            raise
        raise AnalysisError("ocr_timeout", f"Tesseract ran over {timeout:.0f} s") from exc


def read_document(
    images: list[Image.Image], *, today: date, budget_seconds: float = OCR_BUDGET_SECONDS
) -> OcrResult:
    """OCR the document sides and extract CPF, name and birth date.

    Every side is read upright first. When the sides together still lack a field, each
    side that yielded nothing is read again turned by 90, 270 and 180 degrees, because
    cards are often photographed sideways without an EXIF orientation tag. The first
    turn that yields a field wins. A card back without any field costs one pass only
    when the front already gave everything.

    All passes together stop after `budget_seconds`. A pass that runs out of time ends
    the reading with AnalysisError, as do images too thin to hold a card.
    """
    clock = _OcrClock(budget_seconds)
    prepared = [_prepare_for_ocr(image) for image in images]
    upright = [
        extract_fields(read_text(side, timeout=clock.next_timeout()), today=today)
        for side in prepared
    ]
    collected = list(upright)
    rotation_used = 0

    if merge_fields(collected).count() < _FIELD_COUNT:
        for index, side in enumerate(prepared):
            if collected[index].count() > 0:
                continue
            for rotation in (90, 270, 180):
                text = read_text(side.rotate(rotation, expand=True), timeout=clock.next_timeout())
                fields = extract_fields(text, today=today)
                if fields.count() > 0:
                    collected[index] = fields
                    rotation_used = rotation_used or rotation
                    break

    return OcrResult(fields=merge_fields(collected), rotation=rotation_used)

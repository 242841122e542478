"""Image intake: sniff the type from the bytes, check dimensions, then decode and re-encode.

Every uploaded image goes through `process_image`, which is CPU-bound and synchronous
(callers run it in a worker thread). The byte size and the dimensions declared in the
file header are checked before Pillow decodes any pixel. A small file that declares a
huge canvas (a decompression bomb) is therefore rejected without allocating it.

An image within the limits can still take up to about 600 MB while it is decoded,
converted and re-encoded (a 50-megapixel CMYK JPEG that has to be rotated, measured with
Pillow 13). At most `decode_concurrency()` images are decoded at once per process, so a
burst of uploads waits for a slot instead of multiplying that memory.
"""

from __future__ import annotations

import enum
import hashlib
import io
import os
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pillow_heif
from PIL import Image, ImageOps

from taskgo.config import get_settings
from taskgo.errors import AppError

pillow_heif.register_heif_opener()

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# 48-megapixel phone cameras (8064 x 6048) fit under both limits with room to spare.
MAX_IMAGE_SIDE = 12_000
MAX_IMAGE_PIXELS = 50_000_000

# The decode slots when UPLOAD_DECODE_CONCURRENCY is unset: one per CPU, up to this many.
DEFAULT_MAX_DECODE_CONCURRENCY = 4

# Exceptions of pillow_heif for a file that libheif cannot parse or decode, as documented in
# `pillow_heif.open_heif`: invalid data, corrupted data, an unsupported feature, another
# libheif error (its security limits among them), and a failed allocation.
_HEIF_ERRORS = (ValueError, EOFError, SyntaxError, RuntimeError, OSError)
# Exceptions of Pillow's own decoders for a malformed or truncated file.
_PILLOW_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)

JPEG_QUALITY = 90
WEBP_QUALITY = 90

# ISO-BMFF major or compatible brands of HEIF files that hold HEVC-coded images. AVIF
# shares the container but not the codec, so the brands "avif" and "avis" are absent.
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
_HEIF_GENERIC_BRANDS = frozenset({b"mif1", b"msf1"})


class ImageFormat(enum.StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    HEIC = "heic"


# The Pillow plugin name for each accepted format. Decoding is limited to that plugin, so
# a file sniffed as PNG is never parsed by another decoder.
_PILLOW_FORMATS = {
    ImageFormat.JPEG: "JPEG",
    ImageFormat.PNG: "PNG",
    ImageFormat.WEBP: "WEBP",
    ImageFormat.HEIC: "HEIF",
}


@dataclass(frozen=True, slots=True)
class ProcessedImage:
    """A cleaned image ready to store, with facts about the file it came from."""

    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    sha256: str
    source_format: ImageFormat
    source_sha256: str
    source_size: int


def unsupported_type() -> AppError:
    return AppError("upload.unsupported_type", status=415, field="file")


def sniff_image_format(data: bytes) -> ImageFormat | None:
    """Return the image format identified by the file's magic bytes, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return ImageFormat.JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ImageFormat.PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ImageFormat.WEBP
    if _is_heic(data):
        return ImageFormat.HEIC
    return None


def _is_heic(data: bytes) -> bool:
    # An ISO-BMFF file starts with an `ftyp` box: size, "ftyp", major brand, minor
    # version, then a list of compatible brands up to the end of the box.
    if len(data) < 16 or data[4:8] != b"ftyp":
        return False
    box_size = struct.unpack(">I", data[:4])[0]
    if box_size < 16 or box_size > min(len(data), 4096):
        return False
    major = data[8:12]
    compatible = {data[i : i + 4] for i in range(16, box_size - 3, 4)}
    if major in _HEIC_BRANDS:
        return True
    return major in _HEIF_GENERIC_BRANDS and bool(compatible & _HEIC_BRANDS)


def read_dimensions(data: bytes, image_format: ImageFormat) -> tuple[int, int]:
    """Read (width, height) from the file header without decoding pixel data.

    Raises `upload.invalid_image` when the header is truncated or malformed.
    """
    try:
        if image_format is ImageFormat.PNG:
            return _png_dimensions(data)
        if image_format is ImageFormat.JPEG:
            return _jpeg_dimensions(data)
        if image_format is ImageFormat.WEBP:
            return _webp_dimensions(data)
        return _heic_dimensions(data)
    except (struct.error, ValueError, IndexError) as exc:
        raise AppError("upload.invalid_image", field="file") from exc


def _png_dimensions(data: bytes) -> tuple[int, int]:
    # The IHDR chunk must come first: length (4), type (4), width (4), height (4).
    length, chunk_type = struct.unpack(">I4s", data[8:16])
    if chunk_type != b"IHDR" or length != 13:
        raise ValueError("PNG without a leading IHDR chunk")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# Start-of-frame markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share
# the range but are not frames.
_JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, without a length field after them.
_JPEG_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD9)})


def _jpeg_dimensions(data: bytes) -> tuple[int, int]:
    position = 2
    end = len(data)
    while position < end:
        if data[position] != 0xFF:
            raise ValueError("JPEG segment does not start with a marker")
        # Any number of 0xFF fill bytes may precede the marker code.
        while position < end and data[position] == 0xFF:
            position += 1
        marker = data[position]
        position += 1
        if marker in _JPEG_STANDALONE_MARKERS:
            continue
        if marker == 0xDA or marker == 0xD9:
            raise ValueError("JPEG scan data before any frame header")
        (segment_length,) = struct.unpack(">H", data[position : position + 2])
        if segment_length < 2:
            raise ValueError("JPEG segment length below 2")
        if marker in _JPEG_SOF_MARKERS:
            height, width = struct.unpack(">HH", data[position + 3 : position + 7])
            if height == 0:
                # A zero height defers the size to a DNL marker after the first scan.
                raise ValueError("JPEG frame without a declared height")
            return width, height
        position += segment_length
    raise ValueError("JPEG without a frame header")


def _webp_dimensions(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8 ":
        # Lossy: a 3-byte frame tag, the start code 9d 01 2a, then 14-bit sizes.
        if data[23:26] != b"\x9d\x01\x2a":
            raise ValueError("VP8 frame without its start code")
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        # Lossless: signature byte 0x2f, then width-1 and height-1 in 14 bits each.
        if data[20] != 0x2F:
            raise ValueError("VP8L chunk without its signature")
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        # Extended: flags and reserved bytes, then the canvas width-1 and height-1 in
        # 24 bits each.
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    raise ValueError("WebP without a VP8, VP8L or VP8X chunk")


def _heic_dimensions(data: bytes) -> tuple[int, int]:
    # libheif parses the container boxes here; pixel decoding happens only when the
    # image data is read, which this function never does.
    try:
        heif_file = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        width, height = heif_file.size
    except _HEIF_ERRORS as exc:
        raise ValueError("unreadable HEIF container") from exc
    if _within_limits(int(width), int(height)):
        # An image over the limits is refused for its size; this check is for the rest.
        _check_heic_coded_sizes(data)
    return int(width), int(height)


def _check_heic_coded_sizes(data: bytes) -> None:
    """Reject a HEIF file whose coded images are larger than the upload limits.

    The size libheif reports is the one after the crop and rotation properties, but the
    decoder allocates the coded size from the `ispe` (image spatial extents) property,
    and libheif's own limit is about a gigapixel. A file that crops a huge coded image
    down to a small one would pass the size check and still allocate the huge one. So
    every `ispe` in the file must be within the limits, and the file must have one.
    """
    extents = list(_heic_spatial_extents(data))
    if not extents:
        raise ValueError("HEIF file without an ispe property")
    for width, height in extents:
        if not (width > 0 and height > 0 and _within_limits(width, height)):
            raise ValueError("HEIF coded image outside the size limits")


def _iter_boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Yield (type, payload start, payload end) for each ISO-BMFF box in data[start:end]."""
    position = start
    while position + 8 <= end:
        size, box_type = struct.unpack(">I4s", data[position : position + 8])
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", data[position + 8 : position + 16])
            header = 16
        elif size == 0:
            size = end - position
        if size < header or position + size > end:
            raise ValueError("ISO-BMFF box outside its parent")
        yield box_type, position + header, position + size
        position += size


def _heic_spatial_extents(data: bytes) -> Iterator[tuple[int, int]]:
    # The path is meta (a full box) / iprp / ipco / ispe (a full box: version and flags,
    # then the width and height in 32 bits each).
    for meta_type, meta_start, meta_end in _iter_boxes(data, 0, len(data)):
        if meta_type != b"meta":
            continue
        for iprp_type, iprp_start, iprp_end in _iter_boxes(data, meta_start + 4, meta_end):
            if iprp_type != b"iprp":
                continue
            for ipco_type, ipco_start, ipco_end in _iter_boxes(data, iprp_start, iprp_end):
                if ipco_type != b"ipco":
                    continue
                for box_type, start, end in _iter_boxes(data, ipco_start, ipco_end):
                    if box_type == b"ispe":
                        if end - start < 12:
                            raise ValueError("ispe property too short")
                        width, height = struct.unpack(">II", data[start + 4 : start + 12])
                        yield width, height


def _within_limits(width: int, height: int) -> bool:
    return (
        width <= MAX_IMAGE_SIDE and height <= MAX_IMAGE_SIDE and width * height <= MAX_IMAGE_PIXELS
    )


def check_dimensions(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise AppError("upload.invalid_image", field="file")
    if not _within_limits(width, height):
        raise AppError(
            "upload.image_too_large",
            status=413,
            field="file",
            details={"width": width, "height": height},
            width=width,
            height=height,
            max_side=MAX_IMAGE_SIDE,
            max_megapixels=MAX_IMAGE_PIXELS // 1_000_000,
        )


def process_image(data: bytes) -> ProcessedImage:
    """Validate an uploaded image and return it re-encoded without metadata.

    Raises AppError: 413 `upload.file_too_large` or `upload.image_too_large`,
    415 `upload.unsupported_type`, 422 `upload.empty_file` or `upload.invalid_image`.
    """
    if not data:
        raise AppError("upload.empty_file", field="file")
    if len(data) > MAX_UPLOAD_BYTES:
        raise AppError(
            "upload.file_too_large",
            status=413,
            field="file",
            max_megabytes=MAX_UPLOAD_BYTES // (1024 * 1024),
        )

    source_format = sniff_image_format(data)
    if source_format is None:
        raise unsupported_type()
    width, height = read_dimensions(data, source_format)
    check_dimensions(width, height)

    with _decode_slot():
        image = _decode(data, source_format)
        # libheif may return another size than the header's. The coded sizes checked above
        # bound it, so this check only keeps a wrong size out of storage.
        check_dimensions(image.width, image.height)
        encoded, content_type, extension = _encode(image, source_format)

    return ProcessedImage(
        data=encoded,
        content_type=content_type,
        extension=extension,
        width=image.width,
        height=image.height,
        sha256=hashlib.sha256(encoded).hexdigest(),
        source_format=source_format,
        source_sha256=hashlib.sha256(data).hexdigest(),
        source_size=len(data),
    )


def decode_concurrency() -> int:
    """Return how many images one process decodes at once (UPLOAD_DECODE_CONCURRENCY)."""
    configured = get_settings().upload_decode_concurrency
    if configured is not None:
        return configured
    return max(1, min(os.cpu_count() or 1, DEFAULT_MAX_DECODE_CONCURRENCY))


class _DecodeSlots:
    lock = threading.Lock()
    semaphore: threading.BoundedSemaphore | None = None


@contextmanager
def _decode_slot() -> Iterator[None]:
    # A thread-level bound, so it holds for every caller of `process_image`. Async callers
    # should also wait for a slot before taking a thread (the uploads service does).
    with _DecodeSlots.lock:
        if _DecodeSlots.semaphore is None:
            _DecodeSlots.semaphore = threading.BoundedSemaphore(decode_concurrency())
        semaphore = _DecodeSlots.semaphore
    with semaphore:
        yield


def _decode(data: bytes, source_format: ImageFormat) -> Image.Image:
    errors = _PILLOW_ERRORS + _HEIF_ERRORS if source_format is ImageFormat.HEIC else _PILLOW_ERRORS
    try:
        with Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[source_format]]) as opened:
            # Pillow reads the header again with its own parser, which may see another size
            # than ours (a JPEG with two frame headers, for example). Its size is the one it
            # allocates, so it is checked too, still before any pixel is decoded.
            check_dimensions(opened.width, opened.height)
            # Animated PNG and WebP files keep only their first frame.
            opened.seek(0)
            opened.load()
            icc_profile = opened.info.get("icc_profile")
            upright = ImageOps.exif_transpose(opened)
    except errors as exc:
        raise AppError("upload.invalid_image", field="file") from exc

    image = _normalize_mode(upright)
    # Drop EXIF (GPS, camera serial numbers), XMP and text chunks; only the colour
    # profile survives because the pixels are meaningless without it.
    image.info = {"icc_profile": icc_profile} if icc_profile else {}
    return image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )


def _normalize_mode(image: Image.Image) -> Image.Image:
    if image.mode in ("RGB", "RGBA", "L"):
        return image
    if _has_alpha(image):
        return image.convert("RGBA")
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        # 16-bit and float greyscale: scale into 8 bits instead of clipping at 255.
        return image.point(lambda value: value / 256).convert("L")
    return image.convert("RGB")


def _encode(image: Image.Image, source_format: ImageFormat) -> tuple[bytes, str, str]:
    buffer = io.BytesIO()
    icc_profile = image.info.get("icc_profile")
    extra = {"icc_profile": icc_profile} if icc_profile else {}

    if source_format is ImageFormat.WEBP:
        image.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=4, **extra)
        return buffer.getvalue(), "image/webp", "webp"
    if source_format is ImageFormat.PNG or image.mode == "RGBA":
        # PNG keeps its losslessness, and a transparent HEIC cannot become a JPEG.
        image.save(buffer, format="PNG", compress_level=6, **extra)
        return buffer.getvalue(), "image/png", "png"
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, **extra)
    return buffer.getvalue(), "image/jpeg", "jpg"

"""Image intake: type sniffing, size and dimension limits, orientation, metadata removal."""

from __future__ import annotations

import io
import struct
import time
import warnings
import zlib
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image, PngImagePlugin

from taskgo.config import reset_settings
from taskgo.errors import AppError
from taskgo.uploads.images import (
    MAX_UPLOAD_BYTES,
    ImageFormat,
    decode_concurrency,
    process_image,
    read_dimensions,
    sniff_image_format,
)
from tests.verification.documents import portrait

GPS_IFD_TAG = 0x8825
ORIENTATION_TAG = 0x0112


def _png_chunk(chunk_type: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(chunk_type + payload)
    return struct.pack(">I", len(payload)) + chunk_type + payload + struct.pack(">I", crc)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature, IHDR and IEND: it declares a canvas but contains no pixel data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IEND", b"")


def exif_with_gps(orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    exif[0x010F] = "Apple"  # Make
    exif[0x0110] = "iPhone 15"  # Model
    gps = exif.get_ifd(GPS_IFD_TAG)
    gps[1] = "S"  # GPSLatitudeRef
    gps[2] = (23.0, 33.0, 1.0)  # GPSLatitude: São Paulo
    gps[3] = "W"
    gps[4] = (46.0, 38.0, 2.0)
    return exif.tobytes()


def encoded(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def marked_image() -> Image.Image:
    """A landscape image with a red top-left corner, to tell orientations apart."""
    image = Image.new("RGB", (300, 200), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 60, 60))
    return image


def assert_code(error: pytest.ExceptionInfo[AppError], code: str, status: int) -> None:
    assert error.value.code == code
    assert error.value.status == status


@pytest.mark.parametrize(
    ("image_format", "expected"),
    [
        ("JPEG", ImageFormat.JPEG),
        ("PNG", ImageFormat.PNG),
        ("WEBP", ImageFormat.WEBP),
        ("HEIF", ImageFormat.HEIC),
    ],
)
def test_sniff_accepted_formats(image_format: str, expected: ImageFormat) -> None:
    pillow_heif.register_heif_opener()
    assert sniff_image_format(encoded(marked_image(), image_format)) is expected


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf",
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom",
        b"RIFF\x00\x00\x00\x00WAVEfmt ",
        b"",
    ],
)
def test_sniff_rejects_other_types(data: bytes) -> None:
    assert sniff_image_format(data) is None


def test_pdf_named_jpg_is_415() -> None:
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n"
    with pytest.raises(AppError) as error:
        process_image(pdf)
    assert_code(error, "upload.unsupported_type", 415)
    assert error.value.details["field"] == "file"


def test_huge_png_header_is_413_without_decoding() -> None:
    bomb = png_header_only(30_000, 30_000)
    started = time.perf_counter()
    with pytest.raises(AppError) as error:
        process_image(bomb)
    elapsed = time.perf_counter() - started

    # The file has no IDAT chunk at all: had Pillow been asked to decode it, the result
    # would be a 422 invalid image, not a 413 naming the declared size.
    assert_code(error, "upload.image_too_large", 413)
    assert error.value.details["width"] == 30_000
    assert error.value.details["height"] == 30_000
    assert elapsed < 0.5


def test_huge_jpeg_header_is_413() -> None:
    small = encoded(marked_image(), "JPEG")
    # Rewrite the SOF0 frame size to 20000 x 20000.
    sof = small.index(b"\xff\xc0")
    patched = small[: sof + 5] + struct.pack(">HH", 20_000, 20_000) + small[sof + 9 :]
    assert read_dimensions(patched, ImageFormat.JPEG) == (20_000, 20_000)
    with pytest.raises(AppError) as error:
        process_image(patched)
    assert_code(error, "upload.image_too_large", 413)


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP", "HEIF"])
def test_header_dimensions_match_pillow(image_format: str) -> None:
    pillow_heif.register_heif_opener()
    image = Image.new("RGB", (321, 123), (10, 20, 30))
    data = encoded(image, image_format)
    detected = sniff_image_format(data)
    assert detected is not None
    assert read_dimensions(data, detected) == (321, 123)


def test_webp_lossless_and_extended_dimensions() -> None:
    image = Image.new("RGBA", (517, 233), (10, 20, 30, 128))
    lossless = encoded(image, "WEBP", lossless=True)
    assert read_dimensions(lossless, ImageFormat.WEBP) == (517, 233)
    extended = encoded(image.convert("RGB"), "WEBP", exif=exif_with_gps())
    assert extended[12:16] == b"VP8X"
    assert read_dimensions(extended, ImageFormat.WEBP) == (517, 233)


def test_file_over_10_mb_is_413() -> None:
    data = b"\xff\xd8\xff\xe0" + b"\x00" * MAX_UPLOAD_BYTES
    with pytest.raises(AppError) as error:
        process_image(data)
    assert_code(error, "upload.file_too_large", 413)


def test_empty_file_is_422() -> None:
    with pytest.raises(AppError) as error:
        process_image(b"")
    assert_code(error, "upload.empty_file", 422)


@pytest.mark.parametrize("cut", [30, 200, 1500])
def test_truncated_jpeg_is_invalid(cut: int) -> None:
    data = encoded(portrait(), "JPEG")[:cut]
    with pytest.raises(AppError) as error:
        process_image(data)
    assert_code(error, "upload.invalid_image", 422)


def test_png_without_ihdr_is_invalid() -> None:
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"tEXt", b"a\x00b")
    with pytest.raises(AppError) as error:
        process_image(data)
    assert_code(error, "upload.invalid_image", 422)


def test_jpeg_gps_and_camera_metadata_removed() -> None:
    data = encoded(portrait(), "JPEG", exif=exif_with_gps())
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD_TAG)

    result = process_image(data)
    cleaned = Image.open(io.BytesIO(result.data))
    assert result.content_type == "image/jpeg"
    assert dict(cleaned.getexif()) == {}
    assert b"Exif" not in result.data
    assert b"iPhone" not in result.data
    assert b"Apple" not in result.data


def test_png_text_chunks_removed() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "home address: Rua Augusta 100")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>secret</x:xmpmeta>")
    data = encoded(marked_image(), "PNG", pnginfo=info, exif=exif_with_gps())

    result = process_image(data)
    assert result.content_type == "image/png"
    assert b"Rua Augusta" not in result.data
    assert b"xmpmeta" not in result.data
    assert b"eXIf" not in result.data
    assert Image.open(io.BytesIO(result.data)).info.get("Comment") is None


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP", "HEIF"])
@pytest.mark.parametrize(
    ("orientation", "corner_after"),
    [
        (1, "top_left"),
        (3, "bottom_right"),  # rotated 180 degrees
        (6, "top_right"),  # displayed after a 90-degree clockwise turn
        (8, "bottom_left"),  # displayed after a 90-degree counter-clockwise turn
    ],
)
def test_exif_orientation_applied(image_format: str, orientation: int, corner_after: str) -> None:
    pillow_heif.register_heif_opener()
    data = encoded(marked_image(), image_format, exif=exif_with_gps(orientation))

    result = process_image(data)
    upright = Image.open(io.BytesIO(result.data)).convert("RGB")
    portrait_turn = orientation in (6, 8)
    assert upright.size == ((200, 300) if portrait_turn else (300, 200))
    assert (result.width, result.height) == upright.size
    assert ORIENTATION_TAG not in upright.getexif()

    corners = {
        "top_left": (10, 10),
        "top_right": (upright.width - 11, 10),
        "bottom_left": (10, upright.height - 11),
        "bottom_right": (upright.width - 11, upright.height - 11),
    }
    red, _green, blue = upright.getpixel(corners[corner_after])  # type: ignore[misc]
    assert red > 200, f"expected the red mark at {corner_after}"
    assert blue < 80, f"expected the red mark at {corner_after}"


def test_heic_converted_to_jpeg() -> None:
    pillow_heif.register_heif_opener()
    data = encoded(portrait(), "HEIF", quality=80, exif=exif_with_gps())
    assert data[4:12] == b"ftypheic"

    result = process_image(data)
    assert result.source_format is ImageFormat.HEIC
    assert result.content_type == "image/jpeg"
    assert result.extension == "jpg"
    assert (result.width, result.height) == (512, 512)
    assert b"iPhone" not in result.data
    assert Image.open(io.BytesIO(result.data)).format == "JPEG"


def test_webp_stays_webp_and_png_alpha_kept() -> None:
    webp = process_image(encoded(marked_image(), "WEBP"))
    assert webp.content_type == "image/webp"
    assert Image.open(io.BytesIO(webp.data)).format == "WEBP"

    transparent = Image.new("RGBA", (40, 40), (255, 0, 0, 0))
    png = process_image(encoded(transparent, "PNG"))
    assert png.content_type == "image/png"
    reopened = Image.open(io.BytesIO(png.data))
    assert reopened.mode == "RGBA"
    assert reopened.getpixel((5, 5))[3] == 0  # type: ignore[index]


def test_cmyk_jpeg_becomes_rgb() -> None:
    result = process_image(encoded(marked_image().convert("CMYK"), "JPEG"))
    assert Image.open(io.BytesIO(result.data)).mode == "RGB"


def test_hashes_of_source_and_result() -> None:
    import hashlib

    data = encoded(portrait(), "PNG")
    result = process_image(data)
    assert result.source_sha256 == hashlib.sha256(data).hexdigest()
    assert result.sha256 == hashlib.sha256(result.data).hexdigest()
    assert result.source_size == len(data)


FIXTURES = Path(__file__).parent

# Two HEIC files made from one 64 x 48 photo, each with one box changed. One has an `iloc`
# box of a version libheif does not know. The other has an `ispe` that declares a coded
# width of about 3.8 billion pixels behind a `clap` crop down to 40 x 30.
HOSTILE_HEIC = ["heic_bad_iloc_version.heic", "heic_huge_decoded_size.heic"]


@pytest.mark.parametrize("name", HOSTILE_HEIC)
def test_hostile_heic_is_invalid(name: str) -> None:
    with pytest.raises(AppError) as error:
        process_image((FIXTURES / name).read_bytes())
    assert_code(error, "upload.invalid_image", 422)
    assert error.value.details["field"] == "file"


def test_heic_coded_size_checked_in_header() -> None:
    # The size after the crop is small, so the huge coded size must be caught from the
    # header, before libheif is asked for a single pixel.
    data = (FIXTURES / "heic_huge_decoded_size.heic").read_bytes()
    with pytest.raises(AppError) as error:
        read_dimensions(data, ImageFormat.HEIC)
    assert_code(error, "upload.invalid_image", 422)


def test_jpeg_second_frame_header_is_413() -> None:
    small = encoded(marked_image(), "JPEG")
    sof = small.index(b"\xff\xc0")
    (length,) = struct.unpack(">H", small[sof + 2 : sof + 4])
    segment = small[sof : sof + 2 + length]
    # Our parser stops at the first frame header, Pillow keeps the last one it reads.
    huge = segment[:5] + struct.pack(">HH", 12_000, 12_000) + segment[9:]
    data = small[: sof + 2 + length] + huge + small[sof + 2 + length :]
    assert read_dimensions(data, ImageFormat.JPEG) == (300, 200)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(AppError) as error:
            process_image(data)
    assert_code(error, "upload.image_too_large", 413)
    assert (error.value.details["width"], error.value.details["height"]) == (12_000, 12_000)


def test_decode_slots_follow_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPLOAD_DECODE_CONCURRENCY", "3")
    reset_settings()
    try:
        assert decode_concurrency() == 3
    finally:
        monkeypatch.delenv("UPLOAD_DECODE_CONCURRENCY")
        reset_settings()
    assert 1 <= decode_concurrency() <= 4

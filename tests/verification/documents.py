"""Synthetic identity documents and photos for the verification tests.

Cards are drawn with Pillow in DejaVu Sans (installed by scripts/install-system-deps.sh),
a TrueType font with the accented capitals Brazilian names use. The face is a crop of
scikit-image's `astronaut` photograph, a real portrait shipped inside that package.
"""

from __future__ import annotations

import io
import random
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pytesseract
import pytest
from PIL import Image, ImageDraw, ImageFont
from skimage import data as skimage_data

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
REGULAR_FONT = FONT_DIR / "DejaVuSans.ttf"
BOLD_FONT = FONT_DIR / "DejaVuSans-Bold.ttf"

EXIF_ORIENTATION_TAG = 0x0112


@cache
def missing_system_deps() -> str | None:
    """Name what scripts/install-system-deps.sh would install that is missing, if any."""
    if shutil.which("tesseract") is None:
        return "tesseract-ocr"
    if "por" not in pytesseract.get_languages(config=""):
        return "tesseract-ocr-por"
    if not REGULAR_FONT.is_file() or not BOLD_FONT.is_file():
        return "fonts-dejavu-core"
    return None


# Tests that render documents and read them back need Tesseract and the DejaVu fonts. CI
# installs them (as root); elsewhere the tests are skipped with the package's name.
needs_ocr = pytest.mark.skipif(
    missing_system_deps() is not None,
    reason=f"{missing_system_deps()} missing: run scripts/install-system-deps.sh",
)


@dataclass(frozen=True)
class Holder:
    name: str = "JOSÉ CONCEIÇÃO DA SILVA ARAÚJO"
    cpf: str = "529.982.247-25"
    birth_date: str = "14/07/1987"


def _font(size: int, *, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(BOLD_FONT if bold else REGULAR_FONT), size)


def portrait() -> Image.Image:
    """The astronaut photograph: one frontal face, 512 x 512."""
    return Image.fromarray(skimage_data.astronaut())


def two_faces() -> Image.Image:
    return Image.fromarray(np.hstack([skimage_data.astronaut(), skimage_data.astronaut()]))


def no_face() -> Image.Image:
    """A cup of coffee on a table: a photo with no face in it."""
    return Image.fromarray(skimage_data.coffee())


def _background(width: int, height: int) -> Image.Image:
    # Light speckles stand in for the security print of a real card.
    image = Image.new("RGB", (width, height), (214, 232, 214))
    draw = ImageDraw.Draw(image)
    rng = random.Random(7)
    for _ in range(300):
        x, y = rng.randrange(width), rng.randrange(height)
        draw.ellipse((x, y, x + 3, y + 3), fill=(200, 222, 200))
    return image


def document_front(holder: Holder = Holder(), *, with_face: bool = True) -> Image.Image:
    """A driving-licence-style card front: photo, name, CPF, birth and other dates."""
    image = _background(1000, 640)
    draw = ImageDraw.Draw(image)
    ink = (20, 60, 20)
    draw.text((40, 20), "REPÚBLICA FEDERATIVA DO BRASIL", font=_font(30, bold=True), fill=ink)
    draw.text(
        (40, 60),
        "MINISTÉRIO DA INFRAESTRUTURA - CARTEIRA NACIONAL DE HABILITAÇÃO",
        font=_font(18),
        fill=ink,
    )
    if with_face:
        face = portrait().crop((120, 20, 330, 290)).resize((260, 334))
        image.paste(face, (40, 120))

    rows = [
        ("NOME", holder.name),
        ("DOC. IDENTIDADE / ÓRG. EMISSOR / UF", "12345678 SSP SP"),
        ("CPF", holder.cpf),
        ("DATA NASCIMENTO", holder.birth_date),
        ("FILIAÇÃO", "ANTÔNIO ARAÚJO"),
        ("", "MARIA DA CONCEIÇÃO"),
        ("VALIDADE", "20/05/2031"),
        ("1ª HABILITAÇÃO", "03/02/2006"),
    ]
    y = 120
    for label, value in rows:
        if label:
            draw.text((340, y), label, font=_font(16), fill=(60, 90, 60))
            y += 22
        draw.text((340, y), value, font=_font(26, bold=True), fill=(10, 10, 10))
        y += 40
    return image


def document_back() -> Image.Image:
    """A card back with only observations and a registry number: no name, CPF or date."""
    image = _background(1000, 640)
    draw = ImageDraw.Draw(image)
    draw.text((40, 40), "OBSERVAÇÕES", font=_font(20), fill=(60, 90, 60))
    draw.text((40, 70), "EXERCE ATIVIDADE REMUNERADA", font=_font(26, bold=True), fill=(10, 10, 10))
    draw.text((40, 140), "LOCAL", font=_font(20), fill=(60, 90, 60))
    draw.text((40, 170), "SÃO PAULO, SP", font=_font(26, bold=True), fill=(10, 10, 10))
    return image


def encode(
    image: Image.Image, image_format: str = "JPEG", *, orientation: int | None = None
) -> bytes:
    """Encode the image, optionally tagging it with an EXIF orientation."""
    buffer = io.BytesIO()
    options: dict[str, object] = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[EXIF_ORIENTATION_TAG] = orientation
        options["exif"] = exif.tobytes()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def sideways_with_exif(image: Image.Image, image_format: str = "JPEG") -> bytes:
    """Store the pixels turned 90 degrees clockwise, with EXIF orientation 8 so that a
    viewer that honours EXIF turns them back upright, as phone cameras do."""
    turned = image.transpose(Image.Transpose.ROTATE_270)
    return encode(turned, image_format, orientation=8)

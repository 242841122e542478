"""Identity images for the verification flow: a driving-licence-style card and a selfie.

The card is drawn with Pillow. The portrait comes from scikit-image's bundled `astronaut`
photograph when that package is installed (it is in the dev dependencies), because face
detectors need a real face. Without it a drawn face is used: the upload and the admin's
decision still work, but the automatic face check will likely report no face.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

_FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
_CARD_SIZE = (1000, 640)
_INK = (15, 15, 15)
_LABEL = (70, 95, 70)


@dataclass(frozen=True, slots=True)
class Holder:
    name: str
    cpf_formatted: str
    birth_date: str


def _font(size: int, *, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    filename = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for directory in _FONT_DIRS:
        path = directory / filename
        if path.exists():
            return ImageFont.truetype(str(path), size)
    # Pillow's bundled font lacks some accented capitals, which only weakens the OCR.
    return ImageFont.load_default(size)


def _portrait() -> Image.Image:
    try:
        from skimage import data as sample_images
    except ImportError:
        return _drawn_face()
    return Image.fromarray(sample_images.astronaut())


def _drawn_face() -> Image.Image:
    image = Image.new("RGB", (512, 512), (205, 215, 230))
    draw = ImageDraw.Draw(image)
    draw.ellipse((136, 86, 376, 396), fill=(224, 184, 150))
    draw.ellipse((196, 196, 236, 226), fill=(60, 40, 30))
    draw.ellipse((276, 196, 316, 226), fill=(60, 40, 30))
    draw.arc((206, 266, 306, 336), start=20, end=160, fill=(120, 40, 40), width=6)
    return image


def _card_background() -> Image.Image:
    image = Image.new("RGB", _CARD_SIZE, (216, 233, 214))
    draw = ImageDraw.Draw(image)
    # Thin guilloche-like lines stand in for the security print of a real card.
    for offset in range(0, _CARD_SIZE[0] + _CARD_SIZE[1], 24):
        draw.line((offset, 0, offset - _CARD_SIZE[1], _CARD_SIZE[1]), fill=(205, 224, 203))
    return image


def document_front(holder: Holder) -> Image.Image:
    """Draw the card front: header, photo, name, CPF and birth date in labelled rows."""
    image = _card_background()
    draw = ImageDraw.Draw(image)
    draw.text((40, 24), "REPÚBLICA FEDERATIVA DO BRASIL", font=_font(30, bold=True), fill=_INK)
    draw.text((40, 64), "CARTEIRA NACIONAL DE HABILITAÇÃO", font=_font(20), fill=_INK)
    photo = _portrait().crop((130, 20, 330, 280)).resize((250, 325))
    image.paste(photo, (40, 120))

    rows = (
        ("NOME", holder.name.upper()),
        ("CPF", holder.cpf_formatted),
        ("DATA NASCIMENTO", holder.birth_date),
        ("VALIDADE", "18/09/2032"),
    )
    y = 125
    for label, value in rows:
        draw.text((330, y), label, font=_font(17), fill=_LABEL)
        # Tesseract misread about one random CPF in fifteen at 28 px ("85" as "35"). At 38 px
        # it misread one in 140, measured on CPFs rendered and read like the demo's.
        draw.text((330, y + 24), value, font=_font(38, bold=True), fill=_INK)
        y += 78
    return image


def document_back() -> Image.Image:
    image = _card_background()
    draw = ImageDraw.Draw(image)
    draw.text((40, 40), "OBSERVAÇÕES", font=_font(20), fill=_LABEL)
    draw.text((40, 72), "EXERCE ATIVIDADE REMUNERADA", font=_font(28, bold=True), fill=_INK)
    draw.text((40, 150), "LOCAL", font=_font(20), fill=_LABEL)
    draw.text((40, 182), "CASCAVEL, PR", font=_font(28, bold=True), fill=_INK)
    return image


def selfie() -> Image.Image:
    return _portrait()


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=88)
    return buffer.getvalue()


def identity_images(holder: Holder) -> dict[str, bytes]:
    """Return JPEG bytes of the three images, keyed by the submit body's field names."""
    return {
        "documentFront": jpeg(document_front(holder)),
        "documentBack": jpeg(document_back()),
        "selfie": jpeg(selfie()),
    }

"""Bodies of the `/api/me` routes."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from taskgo.schemas import FORBIDDEN_IN_SINGLE_LINE, ApiModel, is_blank

# Controls (line breaks and tabs included), lone surrogates and bidirectional marks and
# overrides. They can make a name display as a different name on other screens.
NAME_FORBIDDEN_CHARACTERS = FORBIDDEN_IN_SINGLE_LINE


def check_name(value: str) -> str:
    """Return the name, or raise when it has a control character or shows nothing."""
    forbidden = NAME_FORBIDDEN_CHARACTERS.search(value)
    if forbidden is not None:
        raise PydanticCustomError(
            "user.name_control_character",
            "the name contains a control character",
            {"codepoint": f"U+{ord(forbidden.group()):04X}"},
        )
    # Zero-width spaces and other format characters display as nothing.
    if is_blank(value):
        raise PydanticCustomError("user.name_empty", "the name is empty")
    return value


def normalize_phone(value: str) -> str:
    """Return a phone number in E.164 form (`+5545999990000`).

    Spaces, dots, dashes and parentheses are ignored. Numbers without `+` are Brazilian:
    a two-digit area code and 8 or 9 digits, optionally after the trunk prefix 0.
    """
    compact = re.sub(r"[\s().-]", "", value)
    if compact.startswith("+"):
        digits = compact[1:]
        valid = 8 <= len(digits) <= 15
    else:
        digits = compact.removeprefix("0")
        valid = len(digits) in (10, 11)
        digits = "55" + digits if valid else digits
    if not (valid and digits.isascii() and digits.isdigit()) or digits.startswith(("0", "550")):
        raise PydanticCustomError("user.invalid_phone", "the phone number is invalid")
    return "+" + digits


class CityOut(ApiModel):
    id: int
    name: str
    uf: str


class MeOut(ApiModel):
    id: uuid.UUID
    role: str
    name: str
    email: str | None = None
    phone: str | None = None
    locale: str
    current_city: CityOut | None
    verification_status: str


class MeUpdateIn(ApiModel):
    # The length limits sit inside Annotated so that they apply to the text: on the union
    # they were reported as a list's limits ("at least 1 item").
    name: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(check_name)] | None = (
        None
    )
    locale: Literal["pt_BR", "en"] | None = None
    # null clears the phone number; a field left out keeps it.
    phone: Annotated[str, Field(max_length=32), AfterValidator(normalize_phone)] | None = None

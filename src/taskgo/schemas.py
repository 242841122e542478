"""Base model for request and response bodies: camelCase on the wire, snake_case accepted.

Also the checks shared by free-text fields that other people read (titles, descriptions,
reasons): no control characters, and not made only of characters that display as nothing.
"""

from __future__ import annotations

import re
import unicodedata

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

# C0 and C1 controls, lone surrogates and the bidirectional marks, embeddings, overrides and
# isolates, which can make a text display as a different one. Line feed and tab are allowed
# only in multi-line text.
_CONTROL_OR_BIDI = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
)
FORBIDDEN_IN_MULTILINE = re.compile(f"[{_CONTROL_OR_BIDI}]")
FORBIDDEN_IN_SINGLE_LINE = re.compile(f"[\n\t{_CONTROL_OR_BIDI}]")
# Letters and symbols that display as blank space (Hangul fillers, the blank Braille pattern).
_BLANK_FILLERS = frozenset("\u115f\u1160\u2800\u3164\uffa0")


def is_blank(text: str) -> bool:
    """Return True when ``text`` displays as nothing: whitespace, fillers, format characters."""
    return all(
        char.isspace() or char in _BLANK_FILLERS or unicodedata.category(char) == "Cf"
        for char in text
    )


def _check_text(value: str, forbidden: re.Pattern[str]) -> str:
    found = forbidden.search(value)
    if found is not None:
        raise PydanticCustomError(
            "validation.control_character",
            "the text contains a control character",
            {"codepoint": f"U+{ord(found.group()):04X}"},
        )
    if value and is_blank(value):
        raise PydanticCustomError("validation.blank", "the text shows no visible character")
    return value


def _single_line(value: str) -> str:
    return _check_text(value, FORBIDDEN_IN_SINGLE_LINE)


def _multiline(value: str) -> str:
    return _check_text(value, FORBIDDEN_IN_MULTILINE)


# Checks of free text shown to other people, placed after the length limits in the field's
# Annotated: `Annotated[str, Field(max_length=...), SINGLE_LINE_TEXT]`. A limit placed after
# a validator is left to pydantic's generic length check, whose error counts items. The API
# still reports it in characters for text (errors._length_code).
SINGLE_LINE_TEXT = AfterValidator(_single_line)
MULTILINE_TEXT = AfterValidator(_multiline)


class ApiModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        from_attributes=True,
        str_strip_whitespace=True,
    )

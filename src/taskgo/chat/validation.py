"""Checks on message bodies and client message ids, shared by the socket and HTTP paths."""

from __future__ import annotations

import re
import unicodedata

from taskgo.errors import AppError

MAX_BODY_CHARS = 4000
MAX_CLIENT_MESSAGE_ID_CHARS = 64

# The rejected characters are the C0 and C1 controls (Unicode category Cc), lone surrogates
# and the bidirectional marks, embeddings, overrides and isolates. Line feed and tab stay
# allowed because they are normal chat text. Bidirectional controls can make a message
# display as a different text (the "Trojan Source" trick). Joiners used by emoji sequences
# (U+200D) stay allowed.
_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_CLIENT_MESSAGE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Letters and symbols that display as blank space (Hangul fillers, the blank Braille pattern).
_BLANK_FILLERS = frozenset("\u115f\u1160\u2800\u3164\uffa0")


def _is_blank(text: str) -> bool:
    """Return True when ``text`` displays as nothing: whitespace, fillers, format characters."""
    return all(
        char.isspace() or char in _BLANK_FILLERS or unicodedata.category(char) == "Cf"
        for char in text
    )


def normalize_body(body: object) -> str:
    """Return the stored form of a message body or raise AppError (field ``body``).

    CRLF and lone CR become LF, and surrounding whitespace is trimmed. The result must have
    1 to 4,000 characters (code points), at least one of them visible, and no control
    characters other than LF and tab.
    """
    if not isinstance(body, str):
        raise AppError("chat.body_invalid", field="body")

    text = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    if _is_blank(text):
        raise AppError("chat.body_empty", field="body")
    if len(text) > MAX_BODY_CHARS:
        raise AppError("chat.body_too_long", field="body", max=MAX_BODY_CHARS)

    forbidden = _FORBIDDEN.search(text)
    if forbidden is not None:
        raise AppError(
            "chat.body_control_character",
            field="body",
            codepoint=f"U+{ord(forbidden.group()):04X}",
        )
    return text


def check_client_message_id(value: object) -> str:
    """Return the client message id, or raise AppError (field ``clientMessageId``).

    Clients send a UUID in practice; any 1–64 characters of letters, digits and ``._:-``
    are accepted.
    """
    if not isinstance(value, str) or not _CLIENT_MESSAGE_ID.fullmatch(value):
        raise AppError(
            "chat.client_message_id_invalid",
            field="clientMessageId",
            max=MAX_CLIENT_MESSAGE_ID_CHARS,
        )
    return value

"""Checks on message bodies and client message ids, shared by the socket and HTTP paths."""

from __future__ import annotations

import re
import unicodedata

from taskgo.errors import AppError

MAX_BODY_CHARS = 4000
MAX_CLIENT_MESSAGE_ID_CHARS = 64

# Line breaks and tabs are part of normal chat text; every other C0/C1 control is rejected.
_ALLOWED_CONTROLS = frozenset("\n\t")
# Bidirectional embedding, override and isolate marks can make a message display as a
# different text (the "Trojan Source" trick), so they are rejected too. Joiners used by
# emoji sequences (U+200D) stay allowed.
_BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)
_CLIENT_MESSAGE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def normalize_body(body: object) -> str:
    """Return the stored form of a message body or raise AppError (field ``body``).

    CRLF and lone CR become LF, and surrounding whitespace is trimmed. The result must have
    1 to 4,000 characters (code points) and no control characters other than LF and tab.
    """
    if not isinstance(body, str):
        raise AppError("chat.body_invalid", field="body")

    text = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise AppError("chat.body_empty", field="body")
    if len(text) > MAX_BODY_CHARS:
        raise AppError("chat.body_too_long", field="body", max=MAX_BODY_CHARS)

    for char in text:
        if char in _ALLOWED_CONTROLS:
            continue
        category = unicodedata.category(char)
        if category == "Cc" or char in _BIDI_CONTROLS or category == "Cs":
            raise AppError(
                "chat.body_control_character", field="body", codepoint=f"U+{ord(char):04X}"
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

"""Checks on message bodies and client message ids, shared by the socket and HTTP paths."""

from __future__ import annotations

import re

from taskgo.errors import AppError
from taskgo.schemas import FORBIDDEN_IN_MULTILINE, is_blank

MAX_BODY_CHARS = 4000
MAX_CLIENT_MESSAGE_ID_CHARS = 64

# Controls other than LF and tab, lone surrogates and the bidirectional controls, which can
# make a message display as a different text (the "Trojan Source" trick). Joiners used by
# emoji sequences (U+200D) stay allowed.
_FORBIDDEN = FORBIDDEN_IN_MULTILINE
_CLIENT_MESSAGE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def normalize_body(body: object) -> str:
    """Return the stored form of a message body or raise AppError (field ``body``).

    CRLF and lone CR become LF, and surrounding whitespace is trimmed. The result must have
    1 to 4,000 characters (code points), at least one of them visible, and no control
    characters other than LF and tab.
    """
    if not isinstance(body, str):
        raise AppError("chat.body_invalid", field="body")

    text = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    if is_blank(text):
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

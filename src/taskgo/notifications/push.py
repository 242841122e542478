"""Push messages, their FCM HTTP v1 encoding, delivery results and the sender interface.

A sender takes already-rendered texts: localisation happens when the notification row
is written, so the push shows exactly what the in-app row shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import orjson

# FCM rejects a message whose payload (keys and values of notification and data, plus the
# platform blocks) exceeds 4096 bytes. Topic messages have a lower limit, unused here.
FCM_MAX_PAYLOAD_BYTES = 4096

# Data keys FCM reserves for itself and rejects with INVALID_ARGUMENT.
_RESERVED_DATA_KEYS = frozenset({"from", "notification", "message_type"})
_RESERVED_DATA_PREFIXES = ("google.", "gcm.")

# Body length cap for pushes, an estimate of what a lock-screen banner shows in full.
MAX_BODY_CHARS = 240


class PushPayloadError(ValueError):
    """A push message that FCM would reject, found before any request is sent."""


class PushPayloadTooLargeError(PushPayloadError):
    def __init__(self, *, size: int, limit: int = FCM_MAX_PAYLOAD_BYTES) -> None:
        super().__init__(f"push payload is {size} bytes, above the FCM limit of {limit} bytes")
        self.size = size
        self.limit = limit


@dataclass(frozen=True, slots=True)
class PushMessage:
    """One push to one device token.

    `key` identifies the delivery for the caller (a row id). `attempts_made` counts the
    attempts spent in earlier runs, so the attempt budget spans job reruns.
    """

    key: str
    token: str
    title: str
    body: str
    data: Mapping[str, str] = field(default_factory=dict)
    collapse_key: str | None = None
    attempts_made: int = 0


class PushOutcome(StrEnum):
    DELIVERED = "delivered"
    # The token is gone for good: the app was uninstalled or the token expired.
    TOKEN_UNREGISTERED = "token_unregistered"  # noqa: S105
    # FCM reports the token itself as malformed or not an FCM registration token.
    TOKEN_INVALID = "token_invalid"  # noqa: S105
    # FCM rejected the message body. The token is fine and must stay active.
    PAYLOAD_REJECTED = "payload_rejected"
    # A transient failure whose next wait is too long to spend inside this run.
    DEFERRED = "deferred"
    # Attempts used up, or an error that a retry cannot fix.
    FAILED = "failed"

    @property
    def deactivates_token(self) -> bool:
        return self in (PushOutcome.TOKEN_UNREGISTERED, PushOutcome.TOKEN_INVALID)

    @property
    def is_final(self) -> bool:
        return self is not PushOutcome.DEFERRED


@dataclass(frozen=True, slots=True)
class PushAttempt:
    """One HTTP request to the push provider (or one log line for the log sender)."""

    number: int
    started_at: datetime
    duration_ms: float
    status_code: int | None
    error_code: str | None = None
    error_message: str | None = None
    retry_after_seconds: float | None = None


@dataclass(slots=True)
class PushResult:
    message: PushMessage
    outcome: PushOutcome
    attempts: list[PushAttempt] = field(default_factory=list)
    provider_message_id: str | None = None
    retry_at: datetime | None = None
    # Why a result without any request ended: one of the codes below.
    error_code: str | None = None


# Error codes of results that made no request.
PAYLOAD_INVALID = "PAYLOAD_INVALID"
ATTEMPTS_EXHAUSTED = "ATTEMPTS_EXHAUSTED"
# The sender itself failed on this message, and the other messages of the batch went on.
SENDER_ERROR = "SENDER_ERROR"

# Called with each result as soon as it is known, before the whole batch is done.
ResultCallback = Callable[[PushResult], None]


class PushSender(Protocol):
    """Deliver push messages and return one result per message, in input order.

    A failure of one message is reported in its result and never raised. `on_result`
    receives each result as soon as it is known, so the caller can record it while
    the rest of the batch is still in flight."""

    name: str

    async def send(
        self, messages: Sequence[PushMessage], *, on_result: ResultCallback | None = None
    ) -> list[PushResult]: ...

    async def aclose(self) -> None: ...


def _check_data(data: Mapping[str, str]) -> None:
    for key, value in data.items():
        if not isinstance(value, str):
            raise PushPayloadError(f"push data value for {key!r} must be a string")
        lowered = key.lower()
        if lowered in _RESERVED_DATA_KEYS or lowered.startswith(_RESERVED_DATA_PREFIXES):
            raise PushPayloadError(f"push data key {key!r} is reserved by FCM")


def build_fcm_message(message: PushMessage) -> dict[str, Any]:
    """Encode a push as an FCM HTTP v1 `Message` object.

    Raises PushPayloadError for a reserved data key and PushPayloadTooLargeError when
    the payload (everything but the token) exceeds 4096 bytes.
    """
    _check_data(message.data)

    android: dict[str, Any] = {"priority": "HIGH"}
    apns_headers = {"apns-priority": "10", "apns-push-type": "alert"}
    if message.collapse_key:
        android["collapse_key"] = message.collapse_key
        apns_headers["apns-collapse-id"] = message.collapse_key

    payload: dict[str, Any] = {
        "notification": {"title": message.title, "body": message.body},
        "data": dict(message.data),
        "android": android,
        "apns": {"headers": apns_headers, "payload": {"aps": {"sound": "default"}}},
    }
    size = len(orjson.dumps(payload))
    if size > FCM_MAX_PAYLOAD_BYTES:
        raise PushPayloadTooLargeError(size=size)

    return {"token": message.token, **payload}


def stringify_data(data: Mapping[str, object] | None) -> dict[str, str]:
    """Convert a notification's data to the string-to-string map FCM requires."""
    if not data:
        return {}
    converted: dict[str, str] = {}
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, bool):
            converted[key] = "true" if value else "false"
        elif isinstance(value, (dict, list, tuple)):
            converted[key] = orjson.dumps(value, default=str).decode()
        else:
            # str, int, UUID, Decimal: their str() is the form the apps parse.
            converted[key] = str(value)
    return converted


def shorten_body(body: str, *, limit: int = MAX_BODY_CHARS) -> str:
    if len(body) <= limit:
        return body
    return body[: limit - 1].rstrip() + "…"

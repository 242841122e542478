"""Validation of an FCM HTTP v1 send body, as the FCM front end applies it.

Field names follow protobuf JSON rules, so each field is accepted in lowerCamelCase and
in snake_case. Unknown names, wrong types and malformed tokens are rejected with the
field path FCM reports in its `BadRequest` detail.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

MAX_PAYLOAD_BYTES = 4096
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,}:[A-Za-z0-9_-]{16,4096}$")
TTL_PATTERN = re.compile(r"^\d+(\.\d{1,9})?s$")
RESERVED_DATA_KEYS = frozenset({"from", "notification", "message_type"})

_MESSAGE_FIELDS = {
    "name",
    "data",
    "notification",
    "android",
    "webpush",
    "apns",
    "fcm_options",
    "token",
    "topic",
    "condition",
}
_NOTIFICATION_FIELDS = {"title", "body", "image"}
_ANDROID_FIELDS = {
    "collapse_key",
    "priority",
    "ttl",
    "restricted_package_name",
    "data",
    "notification",
    "fcm_options",
    "direct_boot_ok",
}
_APNS_FIELDS = {"headers", "payload", "fcm_options"}
_WEBPUSH_FIELDS = {"headers", "data", "notification", "fcm_options"}
_FCM_OPTIONS_FIELDS = {"analytics_label"}


class BodyError(Exception):
    """A body FCM rejects with 400 INVALID_ARGUMENT.

    `fcm_detail` is True when FCM adds an FcmError detail besides the BadRequest one.
    """

    def __init__(self, field: str | None, text: str, *, fcm_detail: bool = False) -> None:
        super().__init__(text)
        self.field = field
        self.text = text
        self.fcm_detail = fcm_detail


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _fields(value: Any, path: str, allowed: set[str]) -> dict[str, Any]:
    """Check an object's field names and return it keyed by snake_case names."""
    if not isinstance(value, dict):
        raise BodyError(path, f"Invalid value at '{path}': expected an object.")
    normalized: dict[str, Any] = {}
    for name, item in value.items():
        snake = _snake(name)
        if snake not in allowed:
            text = (
                f"Invalid JSON payload received. Unknown name \"{name}\" at '{path}': "
                f"Cannot find field."
            )
            raise BodyError(path, text)
        normalized[snake] = item
    return normalized


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise BodyError(path, f"Invalid value at '{path}' (TYPE_STRING), {orjson.dumps(value)!r}")
    return value


def _string_map(value: Any, path: str, *, data_keys: bool = False) -> None:
    if not isinstance(value, dict):
        raise BodyError(path, f"Invalid value at '{path}': expected a map.")
    for index, (key, item) in enumerate(value.items()):
        if not isinstance(item, str):
            item_path = f"{path}[{index}].value"
            raise BodyError(item_path, f"Invalid value at '{item_path}' (TYPE_STRING), {item}")
        lowered = key.lower()
        if data_keys and (lowered in RESERVED_DATA_KEYS or lowered.startswith(("google.", "gcm."))):
            raise BodyError(path, f"Invalid data payload key: {key}", fcm_detail=True)


def _validate_android(value: Any) -> None:
    android = _fields(value, "message.android", _ANDROID_FIELDS)
    if "priority" in android:
        priority = _string(android["priority"], "message.android.priority")
        if priority.upper() not in {"NORMAL", "HIGH"}:
            raise BodyError(
                "message.android.priority",
                f"Invalid value at 'message.android.priority' "
                f"(type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), "
                f'"{priority}"',
            )
    if "ttl" in android and not TTL_PATTERN.match(_string(android["ttl"], "message.android.ttl")):
        raise BodyError(
            "message.android.ttl",
            "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration)",
        )
    for name in ("collapse_key", "restricted_package_name"):
        if name in android:
            _string(android[name], f"message.android.{name}")
    if "data" in android:
        _string_map(android["data"], "message.android.data", data_keys=True)
    if "fcm_options" in android:
        _fields(android["fcm_options"], "message.android.fcm_options", _FCM_OPTIONS_FIELDS)


def _validate_apns(value: Any) -> None:
    apns = _fields(value, "message.apns", _APNS_FIELDS)
    headers = apns.get("headers", {})
    _string_map(headers, "message.apns.headers")
    if headers.get("apns-priority", "10") not in {"5", "10", "1"}:
        raise BodyError("message.apns.headers", "Invalid apns-priority header.", fcm_detail=True)
    if len(headers.get("apns-collapse-id", "").encode()) > 64:
        raise BodyError(
            "message.apns.headers", "apns-collapse-id is longer than 64 bytes.", fcm_detail=True
        )
    if "payload" in apns:
        payload = apns["payload"]
        if not isinstance(payload, dict) or not isinstance(payload.get("aps", {}), dict):
            raise BodyError("message.apns.payload", "Invalid APNs payload.", fcm_detail=True)


def validate_send_body(document: Any) -> tuple[dict[str, Any], bool]:
    """Return the message (snake_case keys at its first level) and `validate_only`."""
    top = _fields(document, "", {"message", "validate_only"})
    validate_only = top.get("validate_only", False)
    if not isinstance(validate_only, bool):
        raise BodyError("validate_only", "Invalid value at 'validate_only' (TYPE_BOOL)")
    if "message" not in top:
        raise BodyError("message", "Request contains an invalid argument.", fcm_detail=True)

    message = _fields(top["message"], "message", _MESSAGE_FIELDS)
    targets = [name for name in ("token", "topic", "condition") if name in message]
    if len(targets) != 1:
        raise BodyError(
            "message", "Exactly one of token, topic or condition must be set.", fcm_detail=True
        )
    if "token" in message:
        token = message["token"]
        if not isinstance(token, str) or not TOKEN_PATTERN.match(token):
            raise BodyError(
                "message.token",
                "The registration token is not a valid FCM registration token",
                fcm_detail=True,
            )

    if "notification" in message:
        notification = _fields(
            message["notification"], "message.notification", _NOTIFICATION_FIELDS
        )
        for name, value in notification.items():
            _string(value, f"message.notification.{name}")
    if "data" in message:
        _string_map(message["data"], "message.data", data_keys=True)
    if "android" in message:
        _validate_android(message["android"])
    if "apns" in message:
        _validate_apns(message["apns"])
    if "webpush" in message:
        _fields(message["webpush"], "message.webpush", _WEBPUSH_FIELDS)
    if "fcm_options" in message:
        _fields(message["fcm_options"], "message.fcm_options", _FCM_OPTIONS_FIELDS)

    payload = {name: value for name, value in message.items() if name not in targets}
    if len(orjson.dumps(payload)) > MAX_PAYLOAD_BYTES:
        raise BodyError("message", "Message is too big.", fcm_detail=True)
    return message, validate_only

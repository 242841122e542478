"""Push payload building, FCM error reading and retry timing, without a server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest

from taskgo.notifications.client import backoff_delay
from taskgo.notifications.fcm_errors import (
    ErrorKind,
    classify_error,
    parse_error_response,
    parse_retry_after,
)
from taskgo.notifications.log_sender import LogSender
from taskgo.notifications.push import (
    FCM_MAX_PAYLOAD_BYTES,
    PushMessage,
    PushOutcome,
    PushPayloadError,
    PushPayloadTooLargeError,
    build_fcm_message,
    shorten_body,
    stringify_data,
)

FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def message(**fields: object) -> PushMessage:
    base: dict[str, object] = {"key": "n1", "token": "tok:en", "title": "Título", "body": "Corpo"}
    return PushMessage(**{**base, **fields})  # type: ignore[arg-type]


def test_payload_at_limit_is_accepted() -> None:
    empty_size = len(
        orjson.dumps({k: v for k, v in build_fcm_message(message(body="")).items() if k != "token"})
    )
    fits = message(body="a" * (FCM_MAX_PAYLOAD_BYTES - empty_size))

    built = build_fcm_message(fits)

    assert len(orjson.dumps({k: v for k, v in built.items() if k != "token"})) == 4096


def test_payload_over_limit_is_rejected() -> None:
    with pytest.raises(PushPayloadTooLargeError) as caught:
        build_fcm_message(message(data={"blob": "é" * 2100}))

    assert caught.value.size > 4096
    assert caught.value.limit == 4096


def test_token_does_not_count_toward_limit() -> None:
    built = build_fcm_message(message(token="t" * 5000))

    assert built["token"] == "t" * 5000


@pytest.mark.parametrize("key", ["from", "google.c.a.e", "gcm.notification", "message_type"])
def test_reserved_data_key_is_rejected(key: str) -> None:
    with pytest.raises(PushPayloadError):
        build_fcm_message(message(data={key: "1"}))


def test_data_values_become_strings() -> None:
    order_id = uuid.UUID("8d0c8d9e-1f7b-4d0e-9a4e-2f4c7c1d2b3a")

    data = stringify_data(
        {"id": order_id, "count": 2, "urgent": True, "tags": ["a"], "missing": None, "s": "x"}
    )

    assert data == {
        "id": "8d0c8d9e-1f7b-4d0e-9a4e-2f4c7c1d2b3a",
        "count": "2",
        "urgent": "true",
        "tags": '["a"]',
        "s": "x",
    }


def test_shorten_body_marks_cut() -> None:
    assert shorten_body("curto") == "curto"
    shortened = shorten_body("palavra " * 60, limit=20)
    assert len(shortened) <= 20
    assert shortened.endswith("…")


def error_body(status: int, text: str, *details: dict[str, object]) -> bytes:
    return orjson.dumps(
        {"error": {"code": status, "message": text, "status": "X", "details": list(details)}}
    )


@pytest.mark.parametrize(
    ("status", "content", "kind"),
    [
        (
            404,
            error_body(404, "gone", {"@type": FCM_ERROR, "errorCode": "UNREGISTERED"}),
            ErrorKind.TOKEN_UNREGISTERED,
        ),
        (
            400,
            error_body(
                400,
                "bad",
                {"@type": FCM_ERROR, "errorCode": "INVALID_ARGUMENT"},
                {"@type": BAD_REQUEST, "fieldViolations": [{"field": "message.token"}]},
            ),
            ErrorKind.TOKEN_INVALID,
        ),
        (
            400,
            error_body(
                400,
                "The registration token is not a valid FCM registration token",
                {"@type": FCM_ERROR, "errorCode": "INVALID_ARGUMENT"},
            ),
            ErrorKind.TOKEN_INVALID,
        ),
        (
            400,
            error_body(
                400,
                "Invalid value at 'message.data[0].value' (TYPE_STRING), 12",
                {"@type": BAD_REQUEST, "fieldViolations": [{"field": "message.data[0].value"}]},
            ),
            ErrorKind.PAYLOAD_REJECTED,
        ),
        # A token named only in the text, but a violation on another field: payload.
        (
            400,
            error_body(
                400,
                "registration token with bad ttl",
                {"@type": BAD_REQUEST, "fieldViolations": [{"field": "message.android.ttl"}]},
            ),
            ErrorKind.PAYLOAD_REJECTED,
        ),
        (
            400,
            error_body(
                400,
                "Request contains an invalid argument.",
                {"@type": FCM_ERROR, "errorCode": "INVALID_ARGUMENT"},
            ),
            ErrorKind.PAYLOAD_REJECTED,
        ),
        # A wrong project id in the URL answers 404 without UNREGISTERED: never a token.
        (404, error_body(404, "Requested entity was not found."), ErrorKind.PERMANENT),
        (401, error_body(401, "expired"), ErrorKind.ACCESS_TOKEN_REJECTED),
        (
            401,
            error_body(401, "apns", {"@type": FCM_ERROR, "errorCode": "THIRD_PARTY_AUTH_ERROR"}),
            ErrorKind.PERMANENT,
        ),
        (403, error_body(403, "SENDER_ID_MISMATCH"), ErrorKind.PERMANENT),
        (429, error_body(429, "quota"), ErrorKind.RETRYABLE),
        (500, b"<html>oops</html>", ErrorKind.RETRYABLE),
        (503, b"", ErrorKind.RETRYABLE),
    ],
)
def test_classify_error(status: int, content: bytes, kind: ErrorKind) -> None:
    assert classify_error(parse_error_response(status, content)) is kind


def test_parse_retry_after_forms() -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

    assert parse_retry_after("30") == 30.0
    assert parse_retry_after("Sun, 01 Mar 2026 12:00:45 GMT", now=now) == 45.0
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_grows_with_jitter() -> None:
    for attempt, step in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0)]:
        delays = [backoff_delay(attempt, base=1.0, cap=60.0) for _ in range(200)]
        assert min(delays) >= step / 2
        assert max(delays) <= step
        assert len(set(delays)) > 1

    assert max(backoff_delay(12, base=1.0, cap=60.0) for _ in range(50)) <= 60.0


async def test_log_sender_validates_and_logs() -> None:
    sender = LogSender()

    ok, too_big = await sender.send([message(), message(key="n2", body="x" * 5000)])

    assert ok.outcome is PushOutcome.DELIVERED
    assert [attempt.number for attempt in ok.attempts] == [1]
    assert too_big.outcome is PushOutcome.PAYLOAD_REJECTED


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("99999999999999", 3600.0),
        ("9" * 400, 3600.0),
        ("31536000", 3600.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 3600.0),
        ("Sunday, 01-Mar-26 12:00:45 GMT", 45.0),
        ("Sun Mar  1 12:00:45 2026", 45.0),
        ("Sun, 01 Mar 2026 14:00:45 +0200", 45.0),
        ("\u0663\u0660", None),
        ("-5", None),
        ("1.5", None),
    ],
)
def test_parse_retry_after_bounds(value: str, seconds: float | None) -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

    assert parse_retry_after(value, now=now) == seconds

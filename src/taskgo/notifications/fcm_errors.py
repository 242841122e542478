"""Read FCM HTTP v1 error responses and decide what each one means for a delivery.

The v1 API returns errors in the Google API shape: `{"error": {"code", "message",
"status", "details": [...]}}`, where `details` may hold a
`type.googleapis.com/google.firebase.fcm.v1.FcmError` entry with an `errorCode` and a
`type.googleapis.com/google.rpc.BadRequest` entry naming the invalid fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

import orjson

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
TOKEN_FIELD = "message.token"  # noqa: S105 (a field path, not a secret)


class ErrorKind(StrEnum):
    TOKEN_UNREGISTERED = "token_unregistered"  # noqa: S105
    TOKEN_INVALID = "token_invalid"  # noqa: S105
    PAYLOAD_REJECTED = "payload_rejected"
    # FCM rejected the access token, and a fresh one may succeed.
    ACCESS_TOKEN_REJECTED = "access_token_rejected"  # noqa: S105
    RETRYABLE = "retryable"
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class FcmErrorResponse:
    status_code: int
    status: str | None
    error_code: str | None
    message: str
    field_violations: tuple[str, ...]

    @property
    def code(self) -> str:
        """Most specific code available, for attempt records and logs."""
        return self.error_code or self.status or f"HTTP_{self.status_code}"


def parse_error_response(status_code: int, content: bytes) -> FcmErrorResponse:
    """Parse an error body. A body that is not in the Google shape still yields a record."""
    try:
        document = orjson.loads(content) if content else {}
    except orjson.JSONDecodeError:
        document = {}
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        text = content[:200].decode("utf-8", errors="replace")
        return FcmErrorResponse(status_code, None, None, text, ())

    error_code: str | None = None
    fields: list[str] = []
    for detail in error.get("details") or []:
        if not isinstance(detail, dict):
            continue
        if detail.get("@type") == FCM_ERROR_TYPE and isinstance(detail.get("errorCode"), str):
            error_code = detail["errorCode"]
        elif detail.get("@type") == BAD_REQUEST_TYPE:
            for violation in detail.get("fieldViolations") or []:
                if isinstance(violation, dict) and isinstance(violation.get("field"), str):
                    fields.append(violation["field"])

    status = error.get("status")
    return FcmErrorResponse(
        status_code=status_code,
        status=status if isinstance(status, str) else None,
        error_code=error_code,
        message=str(error.get("message") or ""),
        field_violations=tuple(fields),
    )


def _names_invalid_token(error: FcmErrorResponse) -> bool:
    """Tell a bad registration token apart from a bad message body.

    FCM uses INVALID_ARGUMENT for both. A field violation on `message.token` names the
    token; a violation on any other field names the payload. Without field violations,
    only the message text can tell, and FCM words it "The registration token is not a
    valid FCM registration token".
    """
    if TOKEN_FIELD in error.field_violations:
        return True
    if error.field_violations:
        return False
    return "registration token" in error.message.lower()


def classify_error(error: FcmErrorResponse) -> ErrorKind:
    # Only the explicit FcmError code counts: a bare 404 can also mean a wrong project id
    # in the URL, and treating that as "token gone" would deactivate every device.
    if error.error_code == "UNREGISTERED":
        return ErrorKind.TOKEN_UNREGISTERED

    if error.status_code == 400 or error.status == "INVALID_ARGUMENT":
        if _names_invalid_token(error):
            return ErrorKind.TOKEN_INVALID
        return ErrorKind.PAYLOAD_REJECTED

    if error.status_code == 401:
        # THIRD_PARTY_AUTH_ERROR means our APNs or web push credential is wrong, which a
        # new Google access token does not fix.
        if error.error_code == "THIRD_PARTY_AUTH_ERROR":
            return ErrorKind.PERMANENT
        return ErrorKind.ACCESS_TOKEN_REJECTED

    if error.status_code == 429 or error.status_code >= 500:
        return ErrorKind.RETRYABLE

    return ErrorKind.PERMANENT


# Maximum wait that a Retry-After can impose. FCM requests waits of seconds or minutes, so
# a longer value (a year, a date in year 9999) is invalid or hostile. The push is retried
# after this bound instead of being parked for good or overflowing the date arithmetic.
MAX_RETRY_AFTER_SECONDS = 3600.0

# RFC 9110 delay-seconds: ASCII digits only (str.isdigit also accepts other scripts).
_DELAY_SECONDS = re.compile(r"[0-9]+")


def parse_retry_after(
    value: str | None, *, now: datetime | None = None, limit: float = MAX_RETRY_AFTER_SECONDS
) -> float | None:
    """Seconds to wait from a Retry-After header, at most `limit`.

    RFC 9110 allows delay-seconds or an HTTP date (IMF-fixdate, or the obsolete RFC 850
    and asctime forms). A date in the past means no wait. Anything else is None.
    """
    if not value:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        # float() turns a run of hundreds of digits into infinity, which min() bounds.
        return min(float(value), limit)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = (moment - (now or datetime.now(UTC))).total_seconds()
    return min(max(delta, 0.0), limit)

"""Error responses of the FCM stand-in, in the Google API error shape."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"


@dataclass(frozen=True, slots=True)
class Failure:
    """A scripted error response for one token, returned before the normal response."""

    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()

    @staticmethod
    def rate_limited(retry_after: int | str = 1) -> Failure:
        return Failure(
            429,
            error_body(
                429,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded for this project.",
                fcm_code="QUOTA_EXCEEDED",
            ),
            (("retry-after", str(retry_after)),),
        )

    @staticmethod
    def unavailable() -> Failure:
        return Failure(
            503,
            error_body(
                503, "UNAVAILABLE", "The service is currently unavailable.", fcm_code="UNAVAILABLE"
            ),
        )

    @staticmethod
    def internal() -> Failure:
        return Failure(
            500, error_body(500, "INTERNAL", "Internal error encountered.", fcm_code="INTERNAL")
        )

    @staticmethod
    def invalid_token_message_only() -> Failure:
        """INVALID_ARGUMENT for a bad token where FCM names it only in the message text."""
        return Failure(
            400,
            error_body(
                400,
                "INVALID_ARGUMENT",
                "The registration token is not a valid FCM registration token",
                fcm_code="INVALID_ARGUMENT",
            ),
        )

    @staticmethod
    def invalid_payload(field_path: str = "message.android.ttl") -> Failure:
        return Failure(
            400,
            error_body(
                400,
                "INVALID_ARGUMENT",
                f"Invalid value at '{field_path}'",
                fcm_code="INVALID_ARGUMENT",
                violations=[(field_path, "Invalid value")],
            ),
        )


def error_body(
    code: int,
    status: str,
    message: str,
    *,
    fcm_code: str | None = None,
    violations: Iterable[tuple[str | None, str]] = (),
) -> dict[str, Any]:
    details: list[dict[str, Any]] = []
    if fcm_code:
        details.append({"@type": FCM_ERROR_TYPE, "errorCode": fcm_code})
    field_violations = [
        {"field": path, "description": text} if path else {"description": text}
        for path, text in violations
    ]
    if field_violations:
        details.append({"@type": BAD_REQUEST_TYPE, "fieldViolations": field_violations})
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}

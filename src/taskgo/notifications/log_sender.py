"""Push sender for development: writes each push to the log instead of sending it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

import structlog

from taskgo.notifications.push import (
    PAYLOAD_INVALID,
    PushAttempt,
    PushMessage,
    PushOutcome,
    PushPayloadError,
    PushResult,
    ResultCallback,
    build_fcm_message,
)

log = structlog.get_logger(__name__)


def token_suffix(token: str) -> str:
    """Last characters of a device token, enough to tell tokens apart in logs."""
    return token[-8:]


class LogSender:
    """Validates each message as the FCM sender would, then logs it as delivered."""

    name = "log"

    async def send(
        self, messages: Sequence[PushMessage], *, on_result: ResultCallback | None = None
    ) -> list[PushResult]:
        results = [self._log(message) for message in messages]
        if on_result is not None:
            for result in results:
                on_result(result)
        return results

    def _log(self, message: PushMessage) -> PushResult:
        started = datetime.now(UTC)
        clock = time.perf_counter()
        try:
            build_fcm_message(message)
        except PushPayloadError as error:
            log.warning("push.payload_rejected", key=message.key, error=str(error))
            return PushResult(
                message=message, outcome=PushOutcome.PAYLOAD_REJECTED, error_code=PAYLOAD_INVALID
            )

        log.info(
            "push.logged",
            key=message.key,
            token_suffix=token_suffix(message.token),
            title=message.title,
            body=message.body,
        )
        attempt = PushAttempt(
            number=message.attempts_made + 1,
            started_at=started,
            duration_ms=(time.perf_counter() - clock) * 1000,
            status_code=None,
        )
        return PushResult(message=message, outcome=PushOutcome.DELIVERED, attempts=[attempt])

    async def aclose(self) -> None:
        return None

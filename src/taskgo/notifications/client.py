"""FCM HTTP v1 sender: one HTTPS request per message over HTTP/2, sent concurrently.

Authentication is an OAuth2 access token that `google-auth` obtains from the token
endpoint with a JWT signed by the service account key. Transient failures (429, 5xx,
network errors) are retried with exponential backoff and jitter, never sooner than the
server's Retry-After, up to `max_attempts` requests per message across job runs. No wait
is longer than `max_retry_after_seconds` (an hour), whatever Retry-After says. Each
message's outcome is its own: an error met by one message never fails the batch.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import google.auth.exceptions
import google.auth.transport.requests
import orjson
import requests
import structlog
from google.oauth2 import service_account

from taskgo.notifications.fcm_errors import (
    MAX_RETRY_AFTER_SECONDS,
    ErrorKind,
    classify_error,
    parse_error_response,
    parse_retry_after,
)
from taskgo.notifications.h2_client import H2Client, H2Timeout, H2TransportError
from taskgo.notifications.log_sender import token_suffix
from taskgo.notifications.push import (
    ATTEMPTS_EXHAUSTED,
    PAYLOAD_INVALID,
    SENDER_ERROR,
    PushAttempt,
    PushMessage,
    PushOutcome,
    PushPayloadError,
    PushResult,
    ResultCallback,
    build_fcm_message,
)

log = structlog.get_logger(__name__)

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
DEFAULT_BASE_URL = "https://fcm.googleapis.com"

_OUTCOME_BY_KIND = {
    ErrorKind.TOKEN_UNREGISTERED: PushOutcome.TOKEN_UNREGISTERED,
    ErrorKind.TOKEN_INVALID: PushOutcome.TOKEN_INVALID,
    ErrorKind.PAYLOAD_REJECTED: PushOutcome.PAYLOAD_REJECTED,
    ErrorKind.PERMANENT: PushOutcome.FAILED,
}


@dataclass(frozen=True, slots=True)
class FcmConfig:
    project_id: str
    service_account_info: Mapping[str, Any]
    base_url: str = DEFAULT_BASE_URL
    # Overrides the key's `token_uri`, so tests can point it at a local stand-in.
    token_uri: str | None = None
    # PEM bundle trusted for both the token endpoint and FCM. None uses the system store.
    ca_file: str | None = None
    # Requests in flight at once, spread evenly over `connections` HTTP/2 connections.
    max_concurrency: int = 100
    connections: int = 2
    max_attempts: int = 5
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 60.0
    # A wait longer than this ends the run with DEFERRED so the job can reschedule
    # instead of holding a worker slot.
    max_inline_wait_seconds: float = 30.0
    timeout_seconds: float = 10.0
    # Maximum wait between attempts, whatever wait FCM's Retry-After requests.
    max_retry_after_seconds: float = MAX_RETRY_AFTER_SECONDS


class AccessTokenError(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class _TokenEndpointRequest(google.auth.transport.requests.Request):
    """google-auth transport that verifies TLS against a given CA bundle.

    `requests` lets REQUESTS_CA_BUNDLE override a session's `verify`, but not a
    per-request `verify`, so the bundle is passed on every call.
    """

    def __init__(self, *, ca_file: str | None) -> None:
        super().__init__(session=requests.Session())
        self._ca_file = ca_file

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._ca_file:
            kwargs.setdefault("verify", self._ca_file)
        return super().__call__(*args, **kwargs)


class AccessTokenSource:
    """Caches the OAuth2 access token and refreshes it once for all concurrent callers."""

    # After a failed refresh, callers within this window get the same error instead of
    # each hitting the token endpoint again.
    FAILURE_MEMORY_SECONDS = 1.0

    def __init__(
        self,
        service_account_info: Mapping[str, Any],
        *,
        token_uri: str | None = None,
        ca_file: str | None = None,
    ) -> None:
        credentials = service_account.Credentials.from_service_account_info(
            dict(service_account_info), scopes=[FCM_SCOPE]
        )
        if token_uri:
            credentials = credentials.with_token_uri(token_uri)
        self._credentials = credentials
        self._request = _TokenEndpointRequest(ca_file=ca_file)
        self._lock = asyncio.Lock()
        self._last_failure: tuple[float, AccessTokenError] | None = None
        self.refresh_count = 0

    async def token(self) -> str:
        async with self._lock:
            if self._credentials.valid and self._credentials.token:
                return str(self._credentials.token)
            if self._last_failure is not None:
                failed_at, error = self._last_failure
                if time.monotonic() - failed_at < self.FAILURE_MEMORY_SECONDS:
                    raise error
            try:
                # google-auth refreshes with blocking `requests`, so it runs in a thread.
                await asyncio.to_thread(self._credentials.refresh, self._request)
            except google.auth.exceptions.GoogleAuthError as caught:
                retryable = bool(getattr(caught, "retryable", True))
                error = AccessTokenError(str(caught), retryable=retryable)
                self._last_failure = (time.monotonic(), error)
                log.warning("push.access_token_failed", error=str(caught), retryable=retryable)
                raise error from caught
            self._last_failure = None
            self.refresh_count += 1
            log.info("push.access_token_refreshed", expiry=str(self._credentials.expiry))
            return str(self._credentials.token)

    def close(self) -> None:
        self._request.session.close()

    async def invalidate(self, stale_token: str) -> None:
        """Drop the cached token after FCM refused it, unless another caller already did."""
        async with self._lock:
            if self._credentials.token == stale_token:
                self._credentials.token = None


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter: a random wait in [half, full] of base·2^(n−1).

    Keeping half the exponential step stops synchronized clients from retrying at once
    while still growing the wait with each attempt.
    """
    step = min(cap, base * 2 ** max(attempt - 1, 0))
    return random.uniform(step / 2, step)


class FcmSender:
    name = "fcm"

    def __init__(self, config: FcmConfig, *, token_source: AccessTokenSource | None = None) -> None:
        self._config = config
        self._tokens = token_source or AccessTokenSource(
            config.service_account_info, token_uri=config.token_uri, ca_file=config.ca_file
        )
        base = config.base_url.rstrip("/")
        self._path = f"{urlsplit(base).path}/v1/projects/{config.project_id}/messages:send"
        self._http = H2Client(
            base,
            ssl_context=ssl.create_default_context(cafile=config.ca_file),
            connections=config.connections,
            max_streams=config.max_concurrency,
            connect_timeout=config.timeout_seconds,
        )

    @property
    def tokens(self) -> AccessTokenSource:
        return self._tokens

    @property
    def http(self) -> H2Client:
        return self._http

    async def aclose(self) -> None:
        await self._http.aclose()
        self._tokens.close()

    async def send(
        self, messages: Sequence[PushMessage], *, on_result: ResultCallback | None = None
    ) -> list[PushResult]:
        clock = time.perf_counter()
        results = list(
            await asyncio.gather(*(self._deliver_one(message, on_result) for message in messages))
        )
        counts: dict[str, int] = {}
        for result in results:
            counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
        log.info(
            "push.batch_sent",
            messages=len(messages),
            duration_ms=round((time.perf_counter() - clock) * 1000, 1),
            **counts,
        )
        return results

    async def _deliver_one(
        self, message: PushMessage, on_result: ResultCallback | None
    ) -> PushResult:
        """Deliver one message. No error of this message escapes to the rest of the batch."""
        result = PushResult(message=message, outcome=PushOutcome.FAILED)
        try:
            await self._deliver(message, result)
        except Exception:
            # A defect hit by one message: it ends failed, with the attempts it made, and
            # the batch goes on. Raising here would fail the whole job, and its rerun would
            # send the other messages again.
            log.exception(
                "push.sender_error", key=message.key, token_suffix=token_suffix(message.token)
            )
            result.outcome = PushOutcome.FAILED
            result.provider_message_id = None
            result.retry_at = None
            result.error_code = SENDER_ERROR
        if on_result is not None:
            on_result(result)
        return result

    async def _deliver(self, message: PushMessage, result: PushResult) -> None:
        """Fill `result` with the attempts made for `message` and their outcome."""
        try:
            body = orjson.dumps({"message": build_fcm_message(message)})
        except PushPayloadError as error:
            log.error("push.payload_invalid", key=message.key, error=str(error))
            result.outcome = PushOutcome.PAYLOAD_REJECTED
            result.error_code = PAYLOAD_INVALID
            return

        if message.attempts_made >= self._config.max_attempts:
            # Earlier runs spent the budget, for instance before it was lowered.
            log.warning("push.failed", key=message.key, attempts=message.attempts_made)
            result.error_code = ATTEMPTS_EXHAUSTED
            return

        number = message.attempts_made
        access_token_retried = False
        while number < self._config.max_attempts:
            number += 1
            attempt, kind, message_id, used_token = await self._attempt(message, body, number)
            result.attempts.append(attempt)

            if kind is None:
                result.outcome = PushOutcome.DELIVERED
                result.provider_message_id = message_id
                return

            if kind is ErrorKind.ACCESS_TOKEN_REJECTED and not access_token_retried:
                # One immediate retry with a fresh token. A second refusal waits like any retry.
                access_token_retried = True
                if used_token:
                    await self._tokens.invalidate(used_token)
                continue

            if kind in _OUTCOME_BY_KIND:
                result.outcome = _OUTCOME_BY_KIND[kind]
                log.warning(
                    "push.rejected",
                    key=message.key,
                    token_suffix=token_suffix(message.token),
                    outcome=result.outcome.value,
                    error_code=attempt.error_code,
                    status_code=attempt.status_code,
                )
                return

            if number >= self._config.max_attempts:
                break

            delay = backoff_delay(
                number, base=self._config.retry_base_seconds, cap=self._config.retry_max_seconds
            )
            if attempt.retry_after_seconds is not None:
                delay = max(delay, attempt.retry_after_seconds)
            delay = min(delay, self._config.max_retry_after_seconds)
            if delay > self._config.max_inline_wait_seconds:
                result.outcome = PushOutcome.DEFERRED
                result.retry_at = datetime.now(UTC) + timedelta(seconds=delay)
                log.info("push.deferred", key=message.key, attempt=number, delay_s=delay)
                return

            log.info(
                "push.retrying",
                key=message.key,
                attempt=number,
                error_code=attempt.error_code,
                delay_s=round(delay, 3),
            )
            await asyncio.sleep(delay)

        log.warning(
            "push.failed",
            key=message.key,
            attempts=number,
            error_code=result.attempts[-1].error_code if result.attempts else None,
        )

    async def _attempt(
        self, message: PushMessage, body: bytes, number: int
    ) -> tuple[PushAttempt, ErrorKind | None, str | None, str | None]:
        """Make one request and return the attempt record, the error kind (None on
        success), FCM's message name and the access token that was used."""
        started = datetime.now(UTC)
        clock = time.perf_counter()

        def record(
            status: int | None,
            code: str | None,
            text: str | None = None,
            retry_after: float | None = None,
        ) -> PushAttempt:
            return PushAttempt(
                number=number,
                started_at=started,
                duration_ms=(time.perf_counter() - clock) * 1000,
                status_code=status,
                error_code=code,
                error_message=text,
                retry_after_seconds=retry_after,
            )

        try:
            access_token = await self._tokens.token()
        except AccessTokenError as error:
            kind = ErrorKind.RETRYABLE if error.retryable else ErrorKind.PERMANENT
            return record(None, "ACCESS_TOKEN_UNAVAILABLE", str(error)), kind, None, None

        headers = (
            ("authorization", f"Bearer {access_token}"),
            ("content-type", "application/json; charset=UTF-8"),
        )
        try:
            response = await self._http.post(
                self._path, headers=headers, body=body, time_limit=self._config.timeout_seconds
            )
        except H2Timeout as error:
            attempt = record(None, "TIMEOUT", str(error))
            return attempt, ErrorKind.RETRYABLE, None, access_token
        except H2TransportError as error:
            attempt = record(None, "NETWORK_ERROR", str(error))
            return attempt, ErrorKind.RETRYABLE, None, access_token

        if response.status == 200:
            name = _message_name(response.content)
            return record(200, None), None, name, access_token

        error_response = parse_error_response(response.status, response.content)
        retry_after = parse_retry_after(
            response.headers.get("retry-after"), limit=self._config.max_retry_after_seconds
        )
        attempt = record(
            response.status, error_response.code, error_response.message[:500], retry_after
        )
        return attempt, classify_error(error_response), None, access_token


def _message_name(content: bytes) -> str | None:
    try:
        document = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    name = document.get("name") if isinstance(document, dict) else None
    return str(name) if name else None

"""The push job's work: find undelivered (notification, device) pairs, send, record.

No database transaction stays open while requests are in flight. Each pair's outcome is
written while the rest of the batch is still being sent (within a second), so a run
that dies or is stopped midway has recorded what it delivered, and its rerun sends only
the rest. A push whose outcome was not written yet when the run died is sent again, so
delivery is at least once. Pairs with a final attempt are never sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import and_, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.db.session import session_scope
from taskgo.jobs import enqueue
from taskgo.notifications.devices import deactivate_devices
from taskgo.notifications.models import DeviceToken, Notification, PushAttempt
from taskgo.notifications.push import PushMessage, PushOutcome, PushResult, shorten_body
from taskgo.notifications.senders import get_push_sender
from taskgo.notifications.service import SEND_PUSH_TASK, push_data

log = structlog.get_logger(__name__)

FINAL_OUTCOMES = tuple(outcome.value for outcome in PushOutcome if outcome.is_final)
RETRYING = "retrying"

# A finished push waits at most this long before its outcome is written. Waiting a little
# lets a batch that finishes at once be written in one statement.
RECORD_INTERVAL_SECONDS = 1.0
# Maximum results per write, so a large batch is recorded in steps.
RECORD_MAX_RESULTS = 1000

# Every attempt of a batch in one statement: one array per column, one row per index.
_ATTEMPT_COLUMNS = (
    "notification_id",
    "device_token_id",
    "provider",
    "attempt_number",
    "outcome",
    "status_code",
    "error_code",
    "error_message",
    "retry_after_seconds",
    "provider_message_id",
    "duration_ms",
    "started_at",
)
_INSERT_ATTEMPTS = text(
    "INSERT INTO push_attempts (notification_id, device_token_id, provider, attempt_number, "
    "outcome, status_code, error_code, error_message, retry_after_seconds, "
    "provider_message_id, duration_ms, started_at) "
    "SELECT * FROM unnest(CAST(:notification_id AS uuid[]), CAST(:device_token_id AS uuid[]), "
    "CAST(:provider AS text[]), CAST(:attempt_number AS smallint[]), "
    "CAST(:outcome AS text[]), CAST(:status_code AS integer[]), CAST(:error_code AS text[]), "
    "CAST(:error_message AS text[]), CAST(:retry_after_seconds AS float8[]), "
    "CAST(:provider_message_id AS text[]), CAST(:duration_ms AS float8[]), "
    "CAST(:started_at AS timestamptz[]))"
)


@dataclass(frozen=True, slots=True)
class PendingPush:
    notification_id: uuid.UUID
    device_token_id: uuid.UUID
    message: PushMessage


async def load_pending(
    session: AsyncSession, notification_ids: Sequence[uuid.UUID]
) -> list[PendingPush]:
    """Pairs of these notifications and their users' active tokens still to deliver.

    A token registered after the notification was written does not get it.
    """
    history = (
        select(
            PushAttempt.notification_id,
            PushAttempt.device_token_id,
            func.count().label("attempts"),
            func.bool_or(PushAttempt.outcome.in_(FINAL_OUTCOMES)).label("final"),
        )
        .where(PushAttempt.notification_id.in_(notification_ids))
        .group_by(PushAttempt.notification_id, PushAttempt.device_token_id)
        .subquery()
    )
    query = (
        select(
            Notification.id,
            Notification.kind,
            Notification.title,
            Notification.body,
            Notification.data,
            DeviceToken.id.label("device_token_id"),
            DeviceToken.token,
            func.coalesce(history.c.attempts, 0).label("attempts"),
        )
        .join(
            DeviceToken,
            and_(
                DeviceToken.user_id == Notification.user_id,
                DeviceToken.deactivated_at.is_(None),
                DeviceToken.created_at <= Notification.created_at,
            ),
        )
        .outerjoin(
            history,
            and_(
                history.c.notification_id == Notification.id,
                history.c.device_token_id == DeviceToken.id,
            ),
        )
        .where(
            Notification.id.in_(notification_ids), func.coalesce(history.c.final, False).is_(False)
        )
    )
    pending: list[PendingPush] = []
    for row in (await session.execute(query)).all():
        message = PushMessage(
            key=f"{row.id}:{row.device_token_id}",
            token=row.token,
            title=row.title,
            body=shorten_body(row.body),
            data=push_data(notification_id=row.id, kind=row.kind, data=row.data or {}),
            attempts_made=int(row.attempts),
        )
        pending.append(PendingPush(row.id, row.device_token_id, message))
    return pending


def _attempt_rows(pending: PendingPush, result: PushResult, provider: str) -> list[dict[str, Any]]:
    if not result.attempts:
        # Ended without a request (payload over 4 KB, attempts already spent, a sender
        # defect): one final record, with the reason as its error code.
        return [
            {
                "notification_id": pending.notification_id,
                "device_token_id": pending.device_token_id,
                "provider": provider,
                "attempt_number": pending.message.attempts_made + 1,
                "outcome": result.outcome.value,
                "status_code": None,
                "error_code": result.error_code,
                "error_message": None,
                "retry_after_seconds": None,
                "provider_message_id": None,
                "duration_ms": 0.0,
                "started_at": datetime.now(UTC),
            }
        ]
    rows = []
    last = len(result.attempts) - 1
    for index, attempt in enumerate(result.attempts):
        rows.append(
            {
                "notification_id": pending.notification_id,
                "device_token_id": pending.device_token_id,
                "provider": provider,
                "attempt_number": attempt.number,
                "outcome": result.outcome.value if index == last else RETRYING,
                "status_code": attempt.status_code,
                "error_code": attempt.error_code,
                "error_message": (attempt.error_message or None) and attempt.error_message[:500],
                "retry_after_seconds": attempt.retry_after_seconds,
                "provider_message_id": result.provider_message_id if index == last else None,
                "duration_ms": attempt.duration_ms,
                "started_at": attempt.started_at,
            }
        )
    return rows


async def record_results(
    session: AsyncSession,
    pending: Sequence[PendingPush],
    results: Sequence[PushResult],
    *,
    provider: str,
) -> dict[uuid.UUID, datetime]:
    """Write the attempts of these results and retire dead tokens.

    Returns the retry time that each deferred notification requested.
    """
    rows: list[dict[str, Any]] = []
    retired: list[tuple[uuid.UUID, str]] = []
    deferred: dict[uuid.UUID, datetime] = {}
    for item, result in zip(pending, results, strict=True):
        rows.extend(_attempt_rows(item, result, provider))
        if result.outcome.deactivates_token:
            retired.append((item.device_token_id, result.outcome.value))
        if result.outcome is PushOutcome.DEFERRED and result.retry_at is not None:
            deferred[item.notification_id] = max(
                result.retry_at, deferred.get(item.notification_id, result.retry_at)
            )

    if rows:
        columns = {name: [row[name] for row in rows] for name in _ATTEMPT_COLUMNS}
        await session.execute(_INSERT_ATTEMPTS, columns)
    await deactivate_devices(session, reasons=retired)
    return deferred


async def schedule_follow_up(session: AsyncSession, deferred: dict[uuid.UUID, datetime]) -> None:
    """Queue one job for the deferred notifications, at the latest requested time.

    One job at the latest time honours every Retry-After of the run.
    """
    if not deferred:
        return
    at = max(deferred.values())
    await enqueue(
        session,
        SEND_PUSH_TASK,
        notification_ids=[str(value) for value in deferred],
        scheduled_at=at,
    )
    log.info("push.rescheduled", notifications=len(deferred), at=str(at))


class _Recorder:
    """Background writer of push results, while the rest of the batch is still being sent.

    `add` buffers a result. A background task writes the buffer once its oldest result
    has waited RECORD_INTERVAL_SECONDS, once it contains RECORD_MAX_RESULTS, or when the
    recorder is closed. Each write is its own transaction. `close` writes the rest and
    queues the follow-up job of the deferred notifications.
    """

    def __init__(self, pending: Sequence[PendingPush], *, provider: str) -> None:
        self._by_key = {item.message.key: item for item in pending}
        self._provider = provider
        self._buffer: list[tuple[PendingPush, PushResult]] = []
        self._deferred: dict[uuid.UUID, datetime] = {}
        self._has_results = asyncio.Event()
        self._write_now = asyncio.Event()
        self._closed = False
        self._task = asyncio.create_task(self._run(), name="push-recorder")

    def add(self, result: PushResult) -> None:
        self._buffer.append((self._by_key[result.message.key], result))
        self._has_results.set()
        if len(self._buffer) >= RECORD_MAX_RESULTS:
            self._write_now.set()

    async def close(self) -> None:
        """Write what is buffered and queue the follow-up job. Re-raise a failed write's error."""
        self._closed = True
        self._has_results.set()
        self._write_now.set()
        await self._task

    async def _run(self) -> None:
        while True:
            await self._has_results.wait()
            if not self._write_now.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._write_now.wait(), RECORD_INTERVAL_SECONDS)
            batch, self._buffer = self._buffer, []
            self._has_results.clear()
            last = self._closed
            if not last:
                self._write_now.clear()
            await self._write(batch, last=last)
            if last:
                return

    async def _write(self, batch: list[tuple[PendingPush, PushResult]], *, last: bool) -> None:
        if not batch and not (last and self._deferred):
            return
        async with session_scope() as session:
            if batch:
                deferred = await record_results(
                    session,
                    [item for item, _ in batch],
                    [result for _, result in batch],
                    provider=self._provider,
                )
                for notification_id, at in deferred.items():
                    self._deferred[notification_id] = max(
                        at, self._deferred.get(notification_id, at)
                    )
            if last:
                await schedule_follow_up(session, self._deferred)


async def deliver_pushes(notification_ids: Sequence[uuid.UUID]) -> dict[str, int]:
    """Send every pending push of these notifications; return counts by outcome."""
    async with session_scope() as session:
        pending = await load_pending(session, notification_ids)
    if not pending:
        return {}

    sender = get_push_sender()
    recorder = _Recorder(pending, provider=sender.name)
    try:
        results = await sender.send([item.message for item in pending], on_result=recorder.add)
    finally:
        # Also when the run is cancelled: what was delivered is written before it stops.
        await recorder.close()

    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
    log.info("push.job_finished", notifications=len(notification_ids), **counts)
    return counts

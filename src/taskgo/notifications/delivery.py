"""The push job's work: find undelivered (notification, device) pairs, send, record.

No database transaction stays open while requests are in flight. A run that dies after
sending but before recording is retried by the queue and sends again, so delivery is at
least once. Pairs with a final attempt are never sent again.
"""

from __future__ import annotations

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
        # Rejected while building (payload over 4 KB): one final record, no request made.
        return [
            {
                "notification_id": pending.notification_id,
                "device_token_id": pending.device_token_id,
                "provider": provider,
                "attempt_number": pending.message.attempts_made + 1,
                "outcome": result.outcome.value,
                "status_code": None,
                "error_code": "PAYLOAD_INVALID",
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
) -> None:
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
    if deferred:
        # One follow-up job at the latest requested time honours every Retry-After.
        await enqueue(
            session,
            SEND_PUSH_TASK,
            notification_ids=[str(value) for value in deferred],
            scheduled_at=max(deferred.values()),
        )
        log.info("push.rescheduled", notifications=len(deferred), at=str(max(deferred.values())))


async def deliver_pushes(notification_ids: Sequence[uuid.UUID]) -> dict[str, int]:
    """Send every pending push of these notifications; return counts by outcome."""
    async with session_scope() as session:
        pending = await load_pending(session, notification_ids)
    if not pending:
        return {}

    sender = get_push_sender()
    results = await sender.send([item.message for item in pending])

    async with session_scope() as session:
        await record_results(session, pending, results, provider=sender.name)

    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
    log.info("push.job_finished", notifications=len(notification_ids), **counts)
    return counts

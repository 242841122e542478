"""The notification pipeline every domain calls: in-app rows, Socket.IO and push.

`notify` writes one row per recipient in one statement, each in the recipient's language,
queues the `notification` event for after the commit and enqueues the push job in the
same transaction. The job row is the outbox, so a crash after the commit loses no push.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from sqlalchemy import Select, any_, bindparam, case, func, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.db.session import after_commit
from taskgo.errors import AppError
from taskgo.i18n import DEFAULT_LOCALE
from taskgo.jobs import enqueue
from taskgo.notifications.models import Notification
from taskgo.notifications.push import (
    PushMessage,
    build_fcm_message,
    shorten_body,
    stringify_data,
)
from taskgo.notifications.texts import RenderedText, render_all
from taskgo.pagination import apply_keyset, page_of
from taskgo.realtime import user_room
from taskgo.realtime.bulk import emit_each_now
from taskgo.users.models import User

log = structlog.get_logger(__name__)

SEND_PUSH_TASK = "notifications.send_push"
# Notifications per push job: a large fan-out becomes several jobs that several workers
# can send at once, and a rerun after a crash repeats at most one batch.
PUSH_JOB_BATCH = 250
MAX_TITLE_CHARS = 300
_UUID_ARRAY = ARRAY(PG_UUID(as_uuid=True))
# A registration token is about 160 characters; the longest seen in the wild stay below this.
_SIZE_CHECK_TOKEN = "x" * 300


def _json_safe(data: Mapping[str, object] | None) -> dict[str, Any]:
    """Round-trip through orjson so UUIDs and datetimes are stored as strings."""
    if not data:
        return {}
    loaded = orjson.loads(orjson.dumps(dict(data), default=str))
    return loaded if isinstance(loaded, dict) else {}


def push_data(
    *, notification_id: uuid.UUID | str, kind: str, data: Mapping[str, Any]
) -> dict[str, str]:
    """Build the FCM data map of a notification: its own data plus its id and kind."""
    return stringify_data({**data, "notificationId": str(notification_id), "kind": kind})


def _check_push_size(texts: Mapping[str, RenderedText], *, kind: str, data: dict[str, Any]) -> None:
    """Fail in the caller's transaction when a push could never be sent (over 4 KB)."""
    sample_data = push_data(notification_id=uuid.UUID(int=0), kind=kind, data=data)
    for text in texts.values():
        build_fcm_message(
            PushMessage(
                key="size-check",
                token=_SIZE_CHECK_TOKEN,
                title=text.title,
                body=shorten_body(text.body),
                data=sample_data,
            )
        )


def _localized_column(texts: Mapping[str, RenderedText], attribute: str) -> Any:
    whens = {locale: getattr(text, attribute) for locale, text in texts.items()}
    return case(whens, value=User.locale, else_=getattr(texts[DEFAULT_LOCALE], attribute))


def notification_payload(
    *,
    notification_id: uuid.UUID,
    kind: str,
    title: str,
    body: str,
    data: Mapping[str, Any],
    created_at: datetime,
    read_at: datetime | None = None,
) -> dict[str, Any]:
    """Build the `notification` Socket.IO event body, shaped like the HTTP list items."""
    return {
        "id": str(notification_id),
        "kind": kind,
        "title": title,
        "body": body,
        "data": dict(data),
        "readAt": read_at.isoformat() if read_at else None,
        "createdAt": created_at.isoformat(),
    }


async def notify(
    session: AsyncSession,
    *,
    user_ids: Iterable[uuid.UUID] | None = None,
    kind: str,
    title_key: str,
    body_key: str,
    params: Mapping[str, object] | None = None,
    data: Mapping[str, object] | None = None,
    push: bool = True,
    user_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Notify users in the caller's transaction; return the new notification ids.

    Title and body are rendered from the catalog keys in each recipient's `users.locale`.
    After the commit, each recipient's sockets get a `notification` event; with `push`,
    the push job (enqueued in this transaction) sends to their active device tokens.
    `user_id` is a shorthand for a single recipient. Unknown user ids are skipped.
    Raises PushPayloadTooLargeError when the texts and data exceed FCM's 4 KB limit.
    """
    recipients = list(dict.fromkeys([*(user_ids or ()), *([user_id] if user_id else [])]))
    if not recipients:
        return []

    texts = render_all(title_key=title_key, body_key=body_key, params=params)
    texts = {
        locale: RenderedText(title=text.title[:MAX_TITLE_CHARS], body=text.body)
        for locale, text in texts.items()
    }
    stored_data = _json_safe(data)
    if push:
        _check_push_size(texts, kind=kind, data=stored_data)

    rows = (
        await session.execute(
            insert(Notification)
            .from_select(
                ["id", "user_id", "kind", "title", "body", "data", "created_at"],
                select(
                    func.gen_random_uuid(),
                    User.id,
                    literal(kind),
                    _localized_column(texts, "title"),
                    _localized_column(texts, "body"),
                    literal(stored_data, type_=JSONB),
                    # The wall clock, not the transaction start, so a long job's rows keep
                    # their real order.
                    func.clock_timestamp(),
                ).where(User.id == any_(bindparam("recipient_ids", recipients, type_=_UUID_ARRAY))),
            )
            .returning(
                Notification.id,
                Notification.user_id,
                Notification.title,
                Notification.body,
                Notification.created_at,
            )
        )
    ).all()

    events = [
        (
            user_room(row.user_id),
            notification_payload(
                notification_id=row.id,
                kind=kind,
                title=row.title,
                body=row.body,
                data=stored_data,
                created_at=row.created_at,
            ),
        )
        for row in rows
    ]

    async def send_events() -> None:
        # One Redis round trip from a worker for all recipients, instead of one each.
        await emit_each_now("notification", events)

    if events:
        after_commit(session, send_events)

    notification_ids = [row.id for row in rows]
    if push:
        for start in range(0, len(notification_ids), PUSH_JOB_BATCH):
            batch = notification_ids[start : start + PUSH_JOB_BATCH]
            await enqueue(session, SEND_PUSH_TASK, notification_ids=[str(value) for value in batch])

    if len(rows) != len(recipients):
        log.warning(
            "notification.unknown_recipients", kind=kind, missing=len(recipients) - len(rows)
        )
    log.info("notification.created", kind=kind, recipients=len(rows), push=push)
    return notification_ids


def _own_notifications(user: User) -> Select[Any]:
    return select(Notification).where(Notification.user_id == user.id)


async def list_notifications(
    session: AsyncSession, *, user: User, cursor: str | None, limit: int, unread_only: bool
) -> tuple[list[Notification], str | None]:
    query = _own_notifications(user)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    query = apply_keyset(
        query,
        created_at=Notification.created_at,
        row_id=Notification.id,
        cursor=cursor,
        limit=limit,
    )
    rows: list[Notification] = list((await session.scalars(query)).all())
    return page_of(rows, limit=limit, key=lambda row: (row.created_at, row.id))


async def unread_count(session: AsyncSession, *, user: User) -> int:
    query = (
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
    )
    return int(await session.scalar(query) or 0)


async def mark_read(session: AsyncSession, *, user: User, notification_id: uuid.UUID) -> None:
    """Mark one of the user's notifications read; reading it again keeps the first time."""
    found = await session.scalar(
        select(Notification.id).where(
            Notification.id == notification_id, Notification.user_id == user.id
        )
    )
    if found is None:
        raise AppError("notification.not_found", status=404)
    await session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.read_at.is_(None))
        .values(read_at=datetime.now(UTC))
    )


async def mark_all_read(session: AsyncSession, *, user: User) -> int:
    result = await session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=datetime.now(UTC))
    )
    return int(getattr(result, "rowcount", 0) or 0)

"""The push job against the FCM stand-in: attempts recorded, tokens retired, retries."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.jobs import enqueue
from taskgo.jobs.inline import run_queued_jobs
from taskgo.notifications.client import FcmConfig, FcmSender
from taskgo.notifications.delivery import RECORD_INTERVAL_SECONDS, load_pending
from taskgo.notifications.models import DeviceToken, PushAttempt
from taskgo.notifications.senders import use_push_sender
from taskgo.notifications.service import SEND_PUSH_TASK, notify
from taskgo.users.models import User
from tests.conftest import MakeUser
from tests.standins.fcm import FcmStandin, make_device_token
from tests.standins.fcm_failures import Failure


@pytest.fixture
async def fcm(fcm_standin: FcmStandin, fcm_config: FcmConfig) -> AsyncIterator[FcmStandin]:
    """Route the app's pushes to the stand-in for one test."""
    sender = FcmSender(replace(fcm_config, max_inline_wait_seconds=5))
    previous = use_push_sender(sender)
    try:
        yield fcm_standin
    finally:
        use_push_sender(previous)
        await sender.aclose()


async def device(db: AsyncSession, user: User, token: str | None = None) -> DeviceToken:
    row = DeviceToken(user_id=user.id, token=token or make_device_token(), platform="android")
    db.add(row)
    await db.flush()
    return row


async def send_one(db: AsyncSession, user: User) -> uuid.UUID:
    [notification_id] = await notify(
        db,
        user_ids=[user.id],
        kind="order_accepted",
        title_key="push.order_accepted.title",
        body_key="push.order_accepted.body",
        params={"partner": "Paulo", "category": "Pintura"},
        data={"serviceOrderId": "8d0c8d9e"},
    )
    return notification_id


async def attempts(db: AsyncSession) -> list[PushAttempt]:
    rows = await db.scalars(select(PushAttempt).order_by(PushAttempt.id))
    return list(rows.all())


async def test_push_delivered_and_recorded(
    db: AsyncSession, make_user: MakeUser, fcm: FcmStandin
) -> None:
    user = await make_user()
    phone, tablet = await device(db, user), await device(db, user)
    fcm.register(phone.token, tablet.token)

    notification_id = await send_one(db, user)
    ran = await run_queued_jobs(db)

    assert ran == ["notifications.send_push"]
    assert sorted(fcm.delivered_tokens()) == sorted([phone.token, tablet.token])
    message = fcm.deliveries[0].message
    assert message["notification"] == {
        "title": "Sua ordem foi aceita",
        "body": "Paulo aceitou sua ordem de Pintura.",
    }
    assert message["data"] == {
        "serviceOrderId": "8d0c8d9e",
        "notificationId": str(notification_id),
        "kind": "order_accepted",
    }
    assert {record.http_version for record in fcm.send_requests} == {"2"}
    recorded = await attempts(db)
    assert [(a.outcome, a.status_code, a.provider, a.attempt_number) for a in recorded] == [
        ("delivered", 200, "fcm", 1),
        ("delivered", 200, "fcm", 1),
    ]
    assert all(a.provider_message_id for a in recorded)


async def test_rerun_sends_nothing_twice(
    db: AsyncSession, make_user: MakeUser, fcm: FcmStandin
) -> None:
    user = await make_user()
    phone = await device(db, user)
    fcm.register(phone.token)
    notification_id = await send_one(db, user)
    await run_queued_jobs(db)

    await db.execute(
        text(
            "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW('default', 'notifications.send_push', "
            "0, NULL, NULL, CAST(:args AS jsonb), NULL)::procrastinate_job_to_defer_v1])"
        ),
        {"args": f'{{"notification_ids": ["{notification_id}"]}}'},
    )
    await run_queued_jobs(db)

    assert len(fcm.send_requests) == 1
    assert len(await attempts(db)) == 1


async def test_unregistered_token_retired(
    db: AsyncSession, make_user: MakeUser, fcm: FcmStandin
) -> None:
    user = await make_user()
    gone = await device(db, user)
    fcm.unregister(gone.token)

    await send_one(db, user)
    await run_queued_jobs(db)

    await db.refresh(gone)
    assert gone.deactivated_at is not None
    assert gone.deactivation_reason == "token_unregistered"
    [attempt] = await attempts(db)
    assert (attempt.outcome, attempt.status_code, attempt.error_code) == (
        "token_unregistered",
        404,
        "UNREGISTERED",
    )
    await send_one(db, user)
    await run_queued_jobs(db)
    assert len(fcm.send_requests) == 1


async def test_invalid_token_retired(
    db: AsyncSession, make_user: MakeUser, fcm: FcmStandin
) -> None:
    user = await make_user()
    malformed = await device(db, user, token="not-an-fcm-registration-token")  # noqa: S106

    await send_one(db, user)
    await run_queued_jobs(db)

    await db.refresh(malformed)
    assert malformed.deactivation_reason == "token_invalid"


async def test_payload_error_keeps_token(
    db: AsyncSession, make_user: MakeUser, fcm: FcmStandin
) -> None:
    user = await make_user()
    phone = await device(db, user)
    fcm.register(phone.token)
    fcm.script(phone.token, Failure.invalid_payload("message.apns.payload"))

    await send_one(db, user)
    await run_queued_jobs(db)

    await db.refresh(phone)
    assert phone.deactivated_at is None
    [attempt] = await attempts(db)
    assert attempt.outcome == "payload_rejected"


async def test_transient_errors_retried(
    db: AsyncSession, make_user: MakeUser, fcm: FcmStandin
) -> None:
    user = await make_user()
    phone = await device(db, user)
    fcm.register(phone.token)
    fcm.script(phone.token, Failure.unavailable(), Failure.rate_limited(retry_after=0))

    await send_one(db, user)
    await run_queued_jobs(db)

    recorded = await attempts(db)
    assert [(a.attempt_number, a.outcome, a.status_code) for a in recorded] == [
        (1, "retrying", 503),
        (2, "retrying", 429),
        (3, "delivered", 200),
    ]
    assert fcm.delivered_tokens() == [phone.token]


async def test_long_retry_after_reschedules(
    db: AsyncSession, make_user: MakeUser, fcm: FcmStandin
) -> None:
    user = await make_user()
    phone = await device(db, user)
    fcm.register(phone.token)
    fcm.script(phone.token, Failure.rate_limited(retry_after=120))

    await send_one(db, user)
    await run_queued_jobs(db)

    [first] = await attempts(db)
    assert (first.outcome, first.retry_after_seconds) == ("deferred", 120.0)
    scheduled = await db.scalar(
        text(
            "SELECT scheduled_at FROM procrastinate_jobs "
            "WHERE task_name = 'notifications.send_push' AND status = 'todo'"
        )
    )
    assert scheduled is not None
    assert scheduled >= datetime.now(UTC) + timedelta(seconds=110)

    await run_queued_jobs(db, include_scheduled=True)

    recorded = await attempts(db)
    assert [(a.attempt_number, a.outcome) for a in recorded] == [(1, "deferred"), (2, "delivered")]


async def test_crash_after_send_resends(
    db: AsyncSession, make_user: MakeUser, fcm: FcmStandin, fcm_config: FcmConfig
) -> None:
    """A worker that dies after sending but before recording: the job row survives and
    the next run delivers again, so no push is lost (it may arrive twice)."""
    user = await make_user()
    phone = await device(db, user)
    fcm.register(phone.token)
    notification_id = await send_one(db, user)
    pending = await load_pending(db, [notification_id])
    sender = FcmSender(fcm_config)
    try:
        await sender.send([item.message for item in pending])
    finally:
        await sender.aclose()
    assert len(fcm.deliveries) == 1
    assert await attempts(db) == []

    await run_queued_jobs(db)

    assert len(fcm.deliveries) == 2
    assert [a.outcome for a in await attempts(db)] == ["delivered"]


async def test_batch_recorded_in_one_statement(
    db: AsyncSession, make_user: MakeUser, fcm: FcmStandin
) -> None:
    """Attempts of every outcome in one job: one INSERT for all, one UPDATE for the tokens."""
    users = [await make_user() for _ in range(4)]
    delivered, gone, malformed, flaky = (
        await device(db, users[0]),
        await device(db, users[1]),
        await device(db, users[2], token="not-an-fcm-registration-token"),  # noqa: S106
        await device(db, users[3]),
    )
    fcm.register(delivered.token, flaky.token)
    fcm.unregister(gone.token)
    fcm.script(flaky.token, Failure.unavailable())
    await notify(
        db,
        user_ids=[user.id for user in users],
        kind="order_accepted",
        title_key="push.order_accepted.title",
        body_key="push.order_accepted.body",
        params={"partner": "Paulo", "category": "Pintura"},
    )
    statements: list[str] = []
    connection = (await db.connection()).sync_connection
    assert connection is not None

    def capture(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(connection, "before_cursor_execute", capture)
    try:
        await run_queued_jobs(db)
    finally:
        event.remove(connection, "before_cursor_execute", capture)

    assert sum("INSERT INTO push_attempts" in sql for sql in statements) == 1
    assert sum("UPDATE device_tokens" in sql for sql in statements) == 1
    outcomes = {
        (a.device_token_id, a.attempt_number): (a.outcome, a.status_code)
        for a in await attempts(db)
    }
    assert outcomes == {
        (delivered.id, 1): ("delivered", 200),
        (gone.id, 1): ("token_unregistered", 404),
        (malformed.id, 1): ("token_invalid", 400),
        (flaky.id, 1): ("retrying", 503),
        (flaky.id, 2): ("delivered", 200),
    }
    for row in (gone, malformed):
        await db.refresh(row)
    assert gone.deactivation_reason == "token_unregistered"
    assert malformed.deactivation_reason == "token_invalid"


async def pending_job_time(db: AsyncSession) -> datetime | None:
    return await db.scalar(
        text(
            "SELECT scheduled_at FROM procrastinate_jobs "
            "WHERE task_name = 'notifications.send_push' AND status = 'todo'"
        )
    )


@pytest.mark.parametrize(
    "retry_after",
    ["99999999999999", "9" * 400, "Fri, 31 Dec 9999 23:59:59 GMT", "31536000"],
)
async def test_huge_retry_after_spares_batch(
    db: AsyncSession, make_user: MakeUser, fcm: FcmStandin, retry_after: str
) -> None:
    """FCM responds to one token with an absurd Retry-After: the others get their push
    once, and the limited one is retried within the hour."""
    limited_user, healthy_user = await make_user(), await make_user()
    limited, healthy = await device(db, limited_user), await device(db, healthy_user)
    fcm.register(limited.token, healthy.token)
    fcm.script(limited.token, Failure.rate_limited(retry_after=retry_after))

    await notify(
        db,
        user_ids=[limited_user.id, healthy_user.id],
        kind="order_accepted",
        title_key="push.order_accepted.title",
        body_key="push.order_accepted.body",
        params={"partner": "Paulo", "category": "Pintura"},
    )
    await run_queued_jobs(db)

    assert fcm.delivered_tokens() == [healthy.token]
    deferred = [a for a in await attempts(db) if a.device_token_id == limited.id]
    assert [(a.outcome, a.retry_after_seconds) for a in deferred] == [("deferred", 3600.0)]
    scheduled = await pending_job_time(db)
    assert scheduled is not None
    assert scheduled <= datetime.now(UTC) + timedelta(hours=1, seconds=5)

    await run_queued_jobs(db, include_scheduled=True)

    assert sorted(fcm.delivered_tokens()) == sorted([limited.token, healthy.token])
    assert len(fcm.requests_for(healthy.token)) == 1


async def test_outcome_recorded_before_batch_ends(
    db: AsyncSession, make_user: MakeUser, fcm_standin: FcmStandin, fcm_config: FcmConfig
) -> None:
    """A run stopped while one push waits to retry: the pushes already delivered are on
    record, and the rerun sends only the one that was waiting."""
    sender = FcmSender(
        replace(fcm_config, retry_base_seconds=8, retry_max_seconds=8, max_inline_wait_seconds=10)
    )
    previous = use_push_sender(sender)
    try:
        slow_user, fast_user = await make_user(), await make_user()
        slow, fast = await device(db, slow_user), await device(db, fast_user)
        fcm_standin.register(slow.token, fast.token)
        fcm_standin.script(slow.token, Failure.unavailable())
        notification_ids = await notify(
            db,
            user_ids=[slow_user.id, fast_user.id],
            kind="order_accepted",
            title_key="push.order_accepted.title",
            body_key="push.order_accepted.body",
            params={"partner": "Paulo", "category": "Pintura"},
        )

        run = asyncio.create_task(run_queued_jobs(db))
        for _ in range(100):
            if fcm_standin.delivered_tokens() and fcm_standin.requests_for(slow.token):
                break
            await asyncio.sleep(0.05)
        # The slow push now waits four to eight seconds before its second attempt.
        await asyncio.sleep(RECORD_INTERVAL_SECONDS + 1.5)
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run

        recorded = await attempts(db)
        assert [(a.device_token_id, a.outcome) for a in recorded] == [(fast.id, "delivered")]

        await enqueue(db, SEND_PUSH_TASK, notification_ids=[str(n) for n in notification_ids])
        await run_queued_jobs(db)
    finally:
        use_push_sender(previous)
        await sender.aclose()

    assert len(fcm_standin.requests_for(fast.token)) == 1
    assert sorted(fcm_standin.delivered_tokens()) == sorted([fast.token, slow.token])


async def test_spent_budget_labelled(
    db: AsyncSession, make_user: MakeUser, fcm: FcmStandin, fcm_config: FcmConfig
) -> None:
    """A push whose earlier runs used every attempt ends with ATTEMPTS_EXHAUSTED."""
    user = await make_user()
    phone = await device(db, user)
    fcm.register(phone.token)
    fcm.script(phone.token, Failure.rate_limited(retry_after=120))
    await send_one(db, user)
    await run_queued_jobs(db)

    # A deploy lowered the attempt budget to one while the push waited.
    sender = FcmSender(replace(fcm_config, max_attempts=1))
    previous = use_push_sender(sender)
    try:
        await run_queued_jobs(db, include_scheduled=True)
    finally:
        use_push_sender(previous)
        await sender.aclose()

    recorded = await attempts(db)
    assert [(a.attempt_number, a.outcome, a.error_code) for a in recorded] == [
        (1, "deferred", "QUOTA_EXCEEDED"),
        (2, "failed", "ATTEMPTS_EXHAUSTED"),
    ]
    assert len(fcm.send_requests) == 1

"""`notify`: rows in each user's language, one statement, the push job as outbox."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.notifications.models import Notification
from taskgo.notifications.push import PushPayloadTooLargeError
from taskgo.notifications.service import PUSH_JOB_BATCH, notify
from taskgo.notifications.texts import Localized, Money, render
from taskgo.users.models import User
from tests.conftest import MakeUser


async def push_jobs(db: AsyncSession) -> list[dict[str, Any]]:
    rows = await db.execute(
        text("SELECT args FROM procrastinate_jobs WHERE task_name = 'notifications.send_push'")
    )
    return [row.args for row in rows]


def test_money_formats_per_locale() -> None:
    params = {"category": Localized({"pt_BR": "Pintura", "en": "Painting"}), "budget": Money(9500)}

    portuguese = render(
        "push.order_created.body_with_budget", "pt_BR", {**params, "description": "x"}
    )
    english = render("push.order_created.body_with_budget", "en", {**params, "description": "x"})

    assert portuguese == "Orçamento: R$ 95,00. x"
    assert english == "Budget: R$95.00. x"


def test_localized_falls_back_to_portuguese() -> None:
    assert Localized({"pt_BR": "Pintura"}).in_locale("en") == "Pintura"


async def test_rows_in_each_users_locale(db: AsyncSession, make_user: MakeUser) -> None:
    ana = await make_user(name="Ana", locale="pt_BR")
    bob = await make_user(name="Bob", locale="en")

    ids = await notify(
        db,
        user_ids=[ana.id, bob.id, ana.id],
        kind="order_created",
        title_key="push.order_created.title",
        body_key="push.order_created.body",
        params={
            "category": Localized({"pt_BR": "Pintura", "en": "Painting"}),
            "city": "Cascavel",
            "description": "Pintar a sala",
        },
        data={"serviceOrderId": uuid.UUID(int=7), "count": 2},
    )

    assert len(ids) == 2
    rows = {
        row.user_id: row
        for row in await db.scalars(select(Notification).where(Notification.id.in_(ids)))
    }
    assert rows[ana.id].title == "Nova ordem de serviço: Pintura em Cascavel"
    assert rows[bob.id].title == "New service order: Painting in Cascavel"
    assert rows[bob.id].body == "Pintar a sala"
    assert rows[ana.id].data == {"serviceOrderId": str(uuid.UUID(int=7)), "count": 2}
    assert rows[ana.id].read_at is None
    assert await push_jobs(db) == [{"notification_ids": [str(value) for value in ids]}]


async def test_one_insert_for_many_users(db: AsyncSession, make_user: MakeUser) -> None:
    users = [await make_user(name=f"Parceiro {index}") for index in range(50)]
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    sync_engine = db.bind.engine.sync_engine  # type: ignore[union-attr]
    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        ids = await notify(
            db,
            user_ids=[user.id for user in users],
            kind="order_taken",
            title_key="push.order_cancelled.title",
            body_key="push.order_cancelled.body",
            params={"category": "Pintura", "city": "Cascavel"},
        )
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)

    assert len(ids) == 50
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO NOTIFICATIONS")]
    assert len(inserts) == 1
    assert len(statements) == 2  # the rows, then the push job


async def test_without_push_no_job(db: AsyncSession, make_user: MakeUser) -> None:
    user = await make_user()

    ids = await notify(
        db,
        user_ids=[user.id],
        kind="info",
        title_key="push.order_expired.title",
        body_key="push.order_expired.body",
        params={"category": "Pintura", "city": "Cascavel"},
        push=False,
    )

    assert len(ids) == 1
    assert await push_jobs(db) == []


async def test_single_user_shorthand(db: AsyncSession, make_user: MakeUser) -> None:
    user = await make_user()

    ids = await notify(
        db,
        user_id=user.id,
        kind="info",
        title_key="push.order_started.title",
        body_key="push.order_started.body",
        params={"partner": "Paulo", "category": "Pintura"},
    )

    stored = await db.get(Notification, ids[0])
    assert stored is not None
    assert stored.user_id == user.id
    assert stored.body == "Paulo começou o serviço de Pintura."


async def test_unknown_users_skipped(db: AsyncSession, make_user: MakeUser) -> None:
    user = await make_user()

    ids = await notify(
        db,
        user_ids=[user.id, uuid.uuid4()],
        kind="info",
        title_key="push.order_expired.title",
        body_key="push.order_expired.body",
        params={"category": "Pintura", "city": "Cascavel"},
    )

    assert len(ids) == 1


async def test_no_recipients_writes_nothing(db: AsyncSession) -> None:
    ids = await notify(
        db, user_ids=[], kind="info", title_key="push.order_expired.title", body_key="x"
    )

    assert ids == []
    assert await push_jobs(db) == []


async def test_oversized_push_rejected_early(db: AsyncSession, make_user: MakeUser) -> None:
    user = await make_user()

    with pytest.raises(PushPayloadTooLargeError):
        await notify(
            db,
            user_ids=[user.id],
            kind="info",
            title_key="push.order_expired.title",
            body_key="push.order_expired.body",
            params={"category": "Pintura", "city": "Cascavel"},
            data={"blob": "x" * 5000},
        )

    assert await db.scalar(select(func.count()).select_from(Notification)) == 0
    assert await push_jobs(db) == []


async def test_push_jobs_in_batches(db: AsyncSession) -> None:
    user_ids = [uuid.uuid4() for _ in range(PUSH_JOB_BATCH * 2 + 10)]
    await db.execute(
        insert(User),
        [
            {"id": user_id, "firebase_uid": f"uid-{user_id}", "role": "partner"}
            for user_id in user_ids
        ],
    )

    ids = await notify(
        db,
        user_ids=user_ids,
        kind="order_taken",
        title_key="push.order_cancelled.title",
        body_key="push.order_cancelled.body",
        params={"category": "Pintura", "city": "Cascavel"},
    )

    jobs = await push_jobs(db)
    assert [len(job["notification_ids"]) for job in jobs] == [PUSH_JOB_BATCH, PUSH_JOB_BATCH, 10]
    queued = [value for job in jobs for value in job["notification_ids"]]
    assert sorted(queued) == sorted(str(value) for value in ids)

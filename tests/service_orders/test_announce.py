"""The summary a partner gets on arriving in a city with open orders in their categories."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.jobs import enqueue
from taskgo.jobs.inline import run_queued_jobs
from taskgo.notifications.models import Notification
from taskgo.users.models import User
from tests.conftest import MakeUser
from tests.service_orders.conftest import (
    CASCAVEL,
    CASCAVEL_FIX,
    FOZ,
    FOZ_FIX,
    AuthHeaders,
    MakePartner,
)

PostOrder = Callable[..., Any]


async def summaries(db: AsyncSession, partner: User) -> list[Notification]:
    rows = await db.scalars(
        select(Notification).where(
            Notification.user_id == partner.id, Notification.kind == "city_orders"
        )
    )
    return list(rows.all())


async def arrive(db: AsyncSession, partner: User, city: int) -> list[str]:
    """Move the partner and queue the job as the locations domain does, then run it."""
    await db.execute(update(User).where(User.id == partner.id).values(current_city_id=city))
    await enqueue(
        db, "service_orders.announce_city_orders", partner_id=str(partner.id), city_id=city
    )
    return await run_queued_jobs(db, task_names={"service_orders.announce_city_orders"})


async def foz_orders(db: AsyncSession, make_user: MakeUser, post_order: PostOrder) -> list[str]:
    """Two matching open orders in Foz, plus four that must not be announced."""
    customer = await make_user(role="client")
    ids = []
    for category in ("pintura", "eletrica", "jardinagem"):
        response = await post_order(customer, category=category, **FOZ_FIX)
        ids.append(response.json()["id"])
    await post_order(customer, category="pintura")  # in Cascavel
    cancelled = (await post_order(customer, **FOZ_FIX)).json()["id"]
    await db.execute(
        text("UPDATE service_orders SET status = 'cancelled' WHERE id = :id"),
        {"id": uuid.UUID(cancelled)},
    )
    stale = (await post_order(customer, **FOZ_FIX)).json()["id"]
    await db.execute(
        text("UPDATE service_orders SET expires_at = now() - interval '1 hour' WHERE id = :id"),
        {"id": uuid.UUID(stale)},
    )
    await db.execute(text("DELETE FROM procrastinate_jobs"))
    return ids[:2]


async def test_partner_arriving_gets_summary(
    db: AsyncSession, make_user: MakeUser, make_partner: MakePartner, post_order: PostOrder
) -> None:
    expected = await foz_orders(db, make_user, post_order)
    partner = await make_partner(categories=["pintura", "eletrica"], city=CASCAVEL)

    ran = await arrive(db, partner, FOZ)

    assert ran == ["service_orders.announce_city_orders"]
    [summary] = await summaries(db, partner)
    assert summary.title == "2 novas ordens em Foz do Iguaçu"
    assert summary.body == "Ordens abertas de Pintura, Elétrica. Toque para ver."
    assert summary.data["count"] == 2
    assert summary.data["cityId"] == FOZ
    assert sorted(summary.data["serviceOrderIds"]) == sorted(expected)
    push_jobs = await db.scalar(
        text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'notifications.send_push'")
    )
    assert push_jobs == 1


async def test_summary_in_english_single(
    db: AsyncSession, make_user: MakeUser, make_partner: MakePartner, post_order: PostOrder
) -> None:
    await foz_orders(db, make_user, post_order)
    partner = await make_partner(categories=["jardinagem"], city=CASCAVEL, locale="en")

    await arrive(db, partner, FOZ)

    [summary] = await summaries(db, partner)
    assert summary.title == "1 new order in Foz do Iguaçu"
    assert summary.body == "Open orders for Gardening. Tap to see them."


async def test_summary_sent_once(
    db: AsyncSession, make_user: MakeUser, make_partner: MakePartner, post_order: PostOrder
) -> None:
    await foz_orders(db, make_user, post_order)
    partner = await make_partner(categories=["pintura"], city=CASCAVEL)

    await arrive(db, partner, FOZ)
    await arrive(db, partner, FOZ)

    assert len(await summaries(db, partner)) == 1


async def test_no_matching_orders_no_push(
    db: AsyncSession, make_user: MakeUser, make_partner: MakePartner, post_order: PostOrder
) -> None:
    await foz_orders(db, make_user, post_order)
    partner = await make_partner(categories=["chaveiro"], city=CASCAVEL)

    await arrive(db, partner, FOZ)

    assert await summaries(db, partner) == []
    push_jobs = await db.scalar(text("SELECT count(*) FROM procrastinate_jobs"))
    assert push_jobs == 0


async def test_unverified_partner_gets_nothing(
    db: AsyncSession, make_user: MakeUser, make_partner: MakePartner, post_order: PostOrder
) -> None:
    await foz_orders(db, make_user, post_order)
    partner = await make_partner(categories=["pintura"], city=CASCAVEL, verified=False)

    await arrive(db, partner, FOZ)

    assert await summaries(db, partner) == []


async def test_partner_moved_on_gets_nothing(
    db: AsyncSession, make_user: MakeUser, make_partner: MakePartner, post_order: PostOrder
) -> None:
    await foz_orders(db, make_user, post_order)
    partner = await make_partner(categories=["pintura"], city=CASCAVEL)
    await enqueue(
        db, "service_orders.announce_city_orders", partner_id=str(partner.id), city_id=FOZ
    )

    await run_queued_jobs(db)

    assert await summaries(db, partner) == []


async def test_order_already_told_not_repeated(
    db: AsyncSession, make_user: MakeUser, make_partner: MakePartner, post_order: PostOrder
) -> None:
    partner = await make_partner(categories=["pintura"], city=FOZ)
    customer = await make_user(role="client")
    await post_order(customer, **FOZ_FIX)
    await run_queued_jobs(db)
    await arrive(db, partner, CASCAVEL)

    await arrive(db, partner, FOZ)

    assert await summaries(db, partner) == []


async def test_location_update_announces(
    db: AsyncSession,
    client: httpx.AsyncClient,
    auth_headers: AuthHeaders,
    make_user: MakeUser,
    make_partner: MakePartner,
    post_order: PostOrder,
) -> None:
    """The whole seam: the partner's app reports a fix in Foz, the city changes, and the
    job the locations domain queued sends the summary."""
    await foz_orders(db, make_user, post_order)
    partner = await make_partner(categories=["pintura", "eletrica"], city=CASCAVEL)
    await client.post(
        "/api/locations/update",
        json={**CASCAVEL_FIX, "accuracy": 10},
        headers=auth_headers(partner),
    )

    changed = False
    for _ in range(5):  # a switch may need several agreeing fixes
        response = await client.post(
            "/api/locations/update",
            json={**FOZ_FIX, "accuracy": 10},
            headers=auth_headers(partner),
        )
        assert response.status_code == 200
        if response.json()["changed"]:
            changed = True
            break
    assert changed
    await run_queued_jobs(db)

    [summary] = await summaries(db, partner)
    assert summary.title == "2 novas ordens em Foz do Iguaçu"

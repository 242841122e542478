"""A partner's GPS update that changes the city ends in one summary push for that city."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.jobs.inline import run_queued_jobs
from taskgo.notifications.models import Notification
from taskgo.service_orders.models import PartnerCategory
from tests.conftest import MakeUser
from tests.locations.conftest import CASCAVEL, FOZ, post_fix

Headers = Callable[..., dict[str, str]]


async def test_move_to_foz_announces_open_orders(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: Headers
) -> None:
    partner = await make_user(role="partner", name="Paulo Pintor", verification_status="verified")
    for slug in ("pintura", "eletrica"):
        db.add(PartnerCategory(partner_id=partner.id, category_slug=slug))
    await db.flush()
    partner_headers = auth_headers(partner)
    await post_fix(client, partner_headers, CASCAVEL)

    customer_headers = auth_headers(await make_user(role="client"))
    for category in ("pintura", "eletrica", "jardinagem"):
        body = {
            "category": category,
            "description": "Serviço na casa toda, dois quartos",
            "lat": FOZ[0],
            "lng": FOZ[1],
        }
        created = await client.post("/api/service-orders", json=body, headers=customer_headers)
        assert created.status_code == 201, created.text
    await db.execute(text("DELETE FROM procrastinate_jobs"))

    moved = await post_fix(client, partner_headers, FOZ)
    ran = await run_queued_jobs(db, task_names={"service_orders.announce_city_orders"})

    assert moved.json()["changed"] is True
    assert ran == ["service_orders.announce_city_orders"]
    summaries = list(
        await db.scalars(
            select(Notification).where(
                Notification.user_id == partner.id, Notification.kind == "city_orders"
            )
        )
    )
    assert len(summaries) == 1
    assert summaries[0].title == "2 novas ordens em Foz do Iguaçu"

"""Two partners accepting one order at the same moment: exactly one wins."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from taskgo.db.session import session_scope
from taskgo.notifications.models import Notification
from taskgo.service_orders.dispatch import announce_city_orders
from taskgo.service_orders.models import ServiceOrder, ServiceOrderDispatch
from tests.conftest import MakeUser
from tests.service_orders.conftest import CASCAVEL_FIX, FOZ, FOZ_FIX, AuthHeaders
from tests.service_orders.live import live_partner_factory, run_jobs_committed

pytestmark = pytest.mark.timeout(120)

ROUNDS = 5


async def test_concurrent_accepts_one_winner(
    live_client: httpx.AsyncClient, make_live_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    make_partner = live_partner_factory(make_live_user)
    customer = await make_live_user(role="client")
    partners = [await make_partner(name=f"Parceiro {index}") for index in range(2)]

    for _ in range(ROUNDS):
        created = await live_client.post(
            "/api/service-orders",
            json={"category": "pintura", "description": "Pintar a fachada da loja", **CASCAVEL_FIX},
            headers=auth_headers(customer),
        )
        assert created.status_code == 201
        assert created.json()["notifiedPartners"] == 2
        order_id = created.json()["id"]
        await run_jobs_committed()

        responses = await asyncio.gather(
            *(
                live_client.post(
                    f"/api/service-orders/{order_id}/accept", headers=auth_headers(partner)
                )
                for partner in partners
            )
        )

        statuses = sorted(response.status_code for response in responses)
        assert statuses == [200, 409]
        winner_index = [response.status_code for response in responses].index(200)
        loser = responses[1 - winner_index]
        assert loser.json()["error"]["code"] == "service_order.already_taken"
        async with session_scope() as session:
            order = await session.get(ServiceOrder, uuid.UUID(order_id))
            assert order is not None
            assert order.status == "accepted"
            assert order.partner_id == partners[winner_index].id


async def test_double_tap_accept_both_succeed(
    live_client: httpx.AsyncClient, make_live_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    make_partner = live_partner_factory(make_live_user)
    customer = await make_live_user(role="client")
    partner = await make_partner()

    for _ in range(ROUNDS):
        created = await live_client.post(
            "/api/service-orders",
            json={"category": "pintura", "description": "Trocar o piso da cozinha", **CASCAVEL_FIX},
            headers=auth_headers(customer),
        )
        order_id = created.json()["id"]
        await run_jobs_committed()

        responses = await asyncio.gather(
            *(
                live_client.post(
                    f"/api/service-orders/{order_id}/accept", headers=auth_headers(partner)
                )
                for _ in range(2)
            )
        )

        assert [response.status_code for response in responses] == [200, 200]
        assert {response.json()["partnerId"] for response in responses} == {str(partner.id)}


async def test_summary_skips_order_notified_meanwhile(
    live_client: httpx.AsyncClient,
    make_live_user: MakeUser,
    auth_headers: AuthHeaders,
    engine: AsyncEngine,
) -> None:
    customer = await make_live_user(role="client")
    created = await live_client.post(
        "/api/service-orders",
        json={"category": "pintura", "description": "Pintar o muro do quintal", **FOZ_FIX},
        headers=auth_headers(customer),
    )
    order_id = uuid.UUID(created.json()["id"])
    partner = await live_partner_factory(make_live_user)(city=FOZ)

    async def announce() -> int:
        async with session_scope() as session:
            return await announce_city_orders(session, partner_id=partner.id, city_id=FOZ)

    # The order's dispatch job records the partner while the summary job is running.
    async with engine.connect() as dispatcher, engine.connect() as probe:
        await dispatcher.execute(
            insert(ServiceOrderDispatch).values(service_order_id=order_id, partner_id=partner.id)
        )
        summary = asyncio.create_task(announce())
        for _ in range(200):
            waiting = await probe.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            # pg_stat_activity keeps the first snapshot read in a transaction, so end each one.
            await probe.rollback()
            if waiting:
                break
            await asyncio.sleep(0.05)
        await dispatcher.commit()
        named = await summary

    assert named == 0
    async with session_scope() as session:
        pushes = await session.scalar(
            select(func.count()).where(
                Notification.user_id == partner.id, Notification.kind == "city_orders"
            )
        )
    assert pushes == 0

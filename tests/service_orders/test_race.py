"""Two partners accepting one order at the same moment: exactly one wins."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from taskgo.db.session import session_scope
from taskgo.service_orders.models import ServiceOrder
from tests.conftest import MakeUser
from tests.service_orders.conftest import CASCAVEL_FIX, AuthHeaders
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

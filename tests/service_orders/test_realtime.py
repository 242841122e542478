"""Socket.IO events of the order flow, received by real socket clients."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import MakeUser
from tests.realtime.fixtures import ConnectSocket
from tests.service_orders.conftest import CASCAVEL, CASCAVEL_FIX, AuthHeaders
from tests.service_orders.live import live_partner_factory, run_jobs_committed

pytestmark = pytest.mark.timeout(120)


async def test_order_events_reach_sockets(
    live_client: httpx.AsyncClient,
    make_live_user: MakeUser,
    auth_headers: AuthHeaders,
    connect_socket: ConnectSocket,
    token_for: Callable[..., str],
) -> None:
    make_partner = live_partner_factory(make_live_user)
    customer = await make_live_user(role="client", name="Carla Cliente")
    first = await make_partner(name="Paulo Pintor")
    second = await make_partner(name="Rita Rival")
    bystander = await make_partner(name="Eletricista", categories=("eletrica",))
    sockets = {
        user.name: await connect_socket(auth={"token": token_for(user)})
        for user in (customer, first, second, bystander)
    }

    created = await live_client.post(
        "/api/service-orders",
        json={"category": "pintura", "description": "Pintar a fachada da loja", **CASCAVEL_FIX},
        headers=auth_headers(customer),
    )
    order_id = created.json()["id"]
    await run_jobs_committed()

    for name in ("Paulo Pintor", "Rita Rival"):
        [event] = await sockets[name].inbox.wait_for("order_created")
        assert event == {
            "serviceOrderId": order_id,
            "category": "pintura",
            "city": {"id": CASCAVEL, "name": "Cascavel", "uf": "PR"},
        }
        [notification] = await sockets[name].inbox.wait_for("notification")
        assert notification["kind"] == "order_created"
        assert notification["title"] == "Nova ordem de serviço: Pintura em Cascavel"
        assert notification["data"]["serviceOrderId"] == order_id
        assert notification["readAt"] is None

    responses = await asyncio.gather(
        *(
            live_client.post(f"/api/service-orders/{order_id}/accept", headers=auth_headers(user))
            for user in (first, second)
        )
    )
    winner, loser = ("Paulo Pintor", "Rita Rival")
    if responses[1].status_code == 200:
        winner, loser = loser, winner

    [taken] = await sockets[loser].inbox.wait_for("order_taken")
    assert taken == {"serviceOrderId": order_id}
    updates = await sockets["Carla Cliente"].inbox.wait_for("service_order_updated")
    assert updates == [{"serviceOrderId": order_id, "status": "accepted"}]
    accepted: list[Any] = await sockets["Carla Cliente"].inbox.wait_for("notification")
    assert accepted[0]["kind"] == "order_accepted"
    assert accepted[0]["body"] == f"{winner} aceitou sua ordem de Pintura."

    await sockets[winner].inbox.settle()
    assert sockets[winner].inbox.events["order_taken"] == []
    assert sockets["Eletricista"].inbox.events["order_created"] == []
    assert sockets["Eletricista"].inbox.events["order_taken"] == []

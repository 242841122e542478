"""`tracking_update` reaches buyer and seller sockets after the event commits."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from taskgo.db.session import session_scope
from taskgo.purchases.models import Purchase, PurchaseStatus
from tests.realtime.fixtures import connect_socket, socket_server, token_for

__all__ = ["connect_socket", "socket_server", "token_for"]

pytestmark = [pytest.mark.usefixtures("manual_provider"), pytest.mark.timeout(60)]


@pytest.fixture
async def committed_tracking(
    engine: AsyncEngine, live_client: httpx.AsyncClient
) -> AsyncIterator[None]:
    """Remove the tracking rows that the users truncate does not reach."""
    yield
    async with engine.begin() as connection:
        await connection.execute(text("TRUNCATE tracking_shipments, tracking_poll_state"))


async def test_event_reaches_both_sides(
    committed_tracking: None,
    live_client: httpx.AsyncClient,
    make_live_user: Any,
    connect_socket: Any,
    token_for: Callable[..., str],
    auth_headers: Callable[..., dict[str, str]],
) -> None:
    buyer = await make_live_user(role="client", name="Bia")
    seller = await make_live_user(role="partner", name="Caio")
    async with session_scope() as session:
        purchase = Purchase(
            buyer_id=buyer.id,
            seller_id=seller.id,
            status=PurchaseStatus.SHIPPED,
            total_cents=10_000,
            platform_fee_cents=500,
            escrow_cents=9_500,
            fee_bps=500,
            payment_provider="local",
            transfer_group=f"group-{uuid.uuid4().hex[:12]}",
            shipped_at=datetime.now(UTC) - timedelta(days=1),
            tracking_code="RA123456785BR",
        )
        session.add(purchase)
    buyer_socket = await connect_socket(auth={"token": token_for(buyer)})
    seller_socket = await connect_socket(auth={"token": token_for(seller)})

    response = await live_client.post(
        f"/api/purchases/{purchase.id}/tracking/events",
        json={"status": "out_for_delivery", "location": "CASCAVEL - PR"},
        headers=auth_headers(seller),
    )

    assert response.status_code == 201
    occurred_at = response.json()["events"][0]["occurredAt"]
    for socket in (buyer_socket, seller_socket):
        received = await socket.inbox.wait_for("tracking_update")
        assert received == [
            {
                "purchaseId": str(purchase.id),
                "trackingCode": "RA123456785BR",
                "status": "out_for_delivery",
                "description": "Saiu para entrega",
                "location": "CASCAVEL - PR",
                "occurredAt": occurred_at,
            }
        ]

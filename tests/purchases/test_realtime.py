"""`purchase_updated` reaches the buyer's and the seller's sockets after each commit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from taskgo.payments.local import LocalPayments
from taskgo.users.models import User
from tests.purchases.conftest import VALID_S10, Headers, buy, create_product
from tests.realtime.fixtures import ConnectSocket

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def clean_local(engine: AsyncEngine) -> AsyncIterator[None]:
    yield
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM local_payment_objects"))


async def test_status_changes_reach_both_sides(
    live_client: httpx.AsyncClient,
    local_env: LocalPayments,
    clean_local: None,
    make_live_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    connect_socket: ConnectSocket,
    token_for: Callable[..., str],
) -> None:
    seller = await make_live_user(
        role="partner", name="Vera Vendedora", verification_status="verified"
    )
    buyer = await make_live_user(role="client", name="Rui Comprador")
    seller_socket = await connect_socket(auth={"token": token_for(seller)})
    buyer_socket = await connect_socket(auth={"token": token_for(buyer)})
    product = await create_product(live_client, auth_headers(seller))
    purchase = (await buy(live_client, auth_headers(buyer), [(product, 1)])).json()

    await live_client.post(
        f"/api/dev/payments/{purchase['id']}/confirm", headers=auth_headers(buyer)
    )
    await live_client.post(
        f"/api/purchases/{purchase['id']}/ship",
        json={"trackingCode": VALID_S10},
        headers=auth_headers(seller),
    )

    expected = [
        {"purchaseId": purchase["id"], "status": status}
        for status in ("pending_payment", "paid", "shipped")
    ]
    assert await buyer_socket.inbox.wait_for("purchase_updated", 3) == expected
    assert await seller_socket.inbox.wait_for("purchase_updated", 3) == expected

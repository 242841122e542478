"""The local payments simulator under concurrent purchases, with requests that really commit."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from taskgo.auth.service import dev_issuer
from taskgo.payments.local import LocalPayments
from taskgo.payments.models import LocalPaymentObject
from taskgo.payments.providers import install_payments
from taskgo.users.models import User
from tests.conftest import MakeUser

SAO_PAULO = {"lat": -23.5505, "lng": -46.6333}
# More requests at once than the test engine's pool has connections (10 plus 10 overflow).
CONCURRENT_PURCHASES = 30


@pytest.fixture
async def local_payments(engine: AsyncEngine) -> AsyncIterator[LocalPayments]:
    provider = LocalPayments()
    previous = install_payments(provider)
    yield provider
    install_payments(previous)
    await provider.aclose()


def _headers(user: User) -> dict[str, str]:
    issuer = dev_issuer()
    assert issuer is not None
    token = issuer.issue(uid=user.firebase_uid, role=user.role, name=user.name)
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.timeout(120)
async def test_concurrent_purchases_finish(
    live_client: httpx.AsyncClient,
    make_live_user: MakeUser,
    local_payments: LocalPayments,
    engine: AsyncEngine,
) -> None:
    seller = await make_live_user(role="partner", name="Bia Vendedora")
    buyer = await make_live_user(role="client", name="Caio Comprador")
    created = await live_client.post(
        "/api/products",
        json={"title": "Cadeira", "price": "10.00", "category": "moveis", "stock": 100} | SAO_PAULO,
        headers=_headers(seller),
    )
    assert created.status_code == 201, created.text
    product_id = created.json()["id"]

    async def purchase() -> httpx.Response:
        return await live_client.post(
            "/api/purchases",
            json={"items": [{"productId": product_id, "quantity": 1}]},
            headers={**_headers(buyer), "Idempotency-Key": uuid.uuid4().hex},
        )

    started = time.monotonic()
    responses = await asyncio.gather(*(purchase() for _ in range(CONCURRENT_PURCHASES)))
    elapsed = time.monotonic() - started

    groups = [f"purchase_{r.json()['id']}" for r in responses if r.status_code == 201]
    async with engine.begin() as connection:
        await connection.execute(
            delete(LocalPaymentObject).where(LocalPaymentObject.transfer_group.in_(groups))
        )
    # Sharing the app's pool, every request held one connection and waited for a second
    # until the 30 s pool timeout.
    assert [r.status_code for r in responses] == [201] * CONCURRENT_PURCHASES
    assert elapsed < 20
    stock = await live_client.get(f"/api/products/{product_id}", headers=_headers(buyer))
    assert stock.json()["stock"] == 100 - CONCURRENT_PURCHASES

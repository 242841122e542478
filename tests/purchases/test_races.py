"""Races between real, committing requests: no oversell, one capture, one transfer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from taskgo.purchases import tasks
from taskgo.users.models import User
from tests.purchases.conftest import (
    VALID_S10,
    Headers,
    buy,
    create_product,
    deliver_events,
    onboard_seller,
    pay,
    product_stock,
)
from tests.standins.stripe_server import StripeStandIn

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def clean_payments(engine: AsyncEngine) -> AsyncIterator[None]:
    """Remove the committed rows that the users TRUNCATE does not reach."""
    yield
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM payment_webhook_events"))
        await connection.execute(text("DELETE FROM local_payment_objects"))


async def _released_setup(
    live_client: httpx.AsyncClient,
    standin: StripeStandIn,
    make_live_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
) -> tuple[dict[str, Any], User, User]:
    seller = await make_live_user(
        role="partner", name="Vera Vendedora", verification_status="verified"
    )
    buyer = await make_live_user(role="client", name="Rui Comprador")
    await onboard_seller(live_client, standin, auth_headers(seller))
    product = await create_product(live_client, auth_headers(seller))
    purchase = (await buy(live_client, auth_headers(buyer), [(product, 1)])).json()
    await pay(standin, live_client, purchase)
    shipped = await live_client.post(
        f"/api/purchases/{purchase['id']}/ship",
        json={"trackingCode": VALID_S10},
        headers=auth_headers(seller),
    )
    assert shipped.status_code == 200, shipped.text
    return purchase, seller, buyer


def _capture_calls(standin: StripeStandIn) -> list[int]:
    """Statuses of every capture request, replays included: the row lock means one call."""
    return [call.status for call in standin.calls("POST", "/v1/payment_intents/*/capture")]


async def test_concurrent_confirms_pay_once(
    live_client: httpx.AsyncClient,
    stripe_env: StripeStandIn,
    clean_payments: None,
    make_live_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
) -> None:
    purchase, _, buyer = await _released_setup(
        live_client, stripe_env, make_live_user, auth_headers
    )
    stripe_env.latency = 0.05
    url = f"/api/purchases/{purchase['id']}/confirm-delivery"

    responses = await asyncio.gather(
        *(live_client.post(url, headers=auth_headers(buyer)) for _ in range(4))
    )

    assert [r.status_code for r in responses] == [200, 200, 200, 200]
    assert {r.json()["status"] for r in responses} == {"released"}
    assert _capture_calls(stripe_env) == [200]
    assert len(stripe_env.world.transfers) == 1
    assert len(stripe_env.calls("POST", "/v1/transfers")) == 1


async def test_confirm_racing_webhooks_and_jobs(
    live_client: httpx.AsyncClient,
    stripe_env: StripeStandIn,
    clean_payments: None,
    make_live_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
) -> None:
    purchase, _, buyer = await _released_setup(
        live_client, stripe_env, make_live_user, auth_headers
    )
    # Earlier events are delivered again, as Stripe does, while the buyer confirms and the
    # capture job runs.
    replayed = list(stripe_env.world.events)
    stripe_env.latency = 0.05
    url = f"/api/purchases/{purchase['id']}/confirm-delivery"

    results = await asyncio.gather(
        live_client.post(url, headers=auth_headers(buyer)),
        stripe_env.deliver(live_client, replayed),
        tasks.capture_due(timestamp=0),
        live_client.post(url, headers=auth_headers(buyer)),
    )
    await deliver_events(stripe_env, live_client, twice=True)

    assert results[0].status_code == 200
    assert results[3].status_code == 200
    final = await live_client.get(f"/api/purchases/{purchase['id']}", headers=auth_headers(buyer))
    assert final.json()["status"] == "released"
    assert _capture_calls(stripe_env) == [200]
    assert len(stripe_env.world.transfers) == 1
    ledger = await live_client.get(f"/api/purchases/{purchase['id']}", headers=auth_headers(buyer))
    assert ledger.json()["escrowAmount"] == "95.00"


async def test_last_units_not_oversold(
    live_client: httpx.AsyncClient,
    stripe_env: StripeStandIn,
    clean_payments: None,
    make_live_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
) -> None:
    seller = await make_live_user(
        role="partner", name="Vera Vendedora", verification_status="verified"
    )
    buyers = [await make_live_user(role="client", name=f"Comprador {i}") for i in range(8)]
    product = await create_product(live_client, auth_headers(seller), stock=3)

    responses = await asyncio.gather(
        *(buy(live_client, auth_headers(b), [(product, 1)]) for b in buyers)
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 201, 201, 409, 409, 409, 409, 409]
    assert await product_stock(live_client, product, auth_headers(seller)) == 0
    refused = [r.json()["error"]["code"] for r in responses if r.status_code == 409]
    assert set(refused) == {"purchase.out_of_stock"}

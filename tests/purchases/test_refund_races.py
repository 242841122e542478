"""Refunds made at the provider racing the app: webhooks delivered twice at once, the
buyer's cancel or confirmation and the release job, all committing for real."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from taskgo.db.session import session_scope
from taskgo.payments.ledger_store import load_balances
from taskgo.purchases import tasks
from taskgo.purchases.models import Purchase
from taskgo.users.models import User
from tests.purchases.conftest import (
    VALID_S10,
    Headers,
    buy,
    create_product,
    deliver_events,
    notifications_of,
    onboard_seller,
    pay,
    product_stock,
)
from tests.purchases.test_provider_refunds import refund_at_provider
from tests.standins.stripe_server import StripeStandIn

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def clean_payments(engine: AsyncEngine) -> AsyncIterator[None]:
    yield
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM payment_webhook_events"))
        await connection.execute(text("DELETE FROM local_payment_objects"))


async def _captured(
    client: httpx.AsyncClient,
    standin: StripeStandIn,
    make_live_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
) -> tuple[dict[str, Any], User, User, list[uuid.UUID]]:
    """A paid and captured purchase of two products (2 + 1 units, R$ 100,00 in all)."""
    seller = await make_live_user(
        role="partner", name="Vera Vendedora", verification_status="verified"
    )
    buyer = await make_live_user(role="client", name="Rui Comprador")
    await onboard_seller(client, standin, auth_headers(seller))
    first = await create_product(client, auth_headers(seller), price="30.00", stock=5)
    second = await create_product(client, auth_headers(seller), price="40.00", stock=5)
    purchase = (await buy(client, auth_headers(buyer), [(first, 2), (second, 1)])).json()
    assert purchase["total"] == "100.00", purchase
    await pay(standin, client, purchase)
    async with session_scope() as session:
        await session.execute(
            update(Purchase)
            .where(Purchase.id == uuid.UUID(purchase["id"]))
            .values(capture_before=datetime.now(UTC))
        )
    assert await tasks.capture_due(timestamp=0) == 1
    await deliver_events(standin, client)
    return purchase, seller, buyer, [first, second]


def _intent_id(purchase: dict[str, Any]) -> str:
    return str(purchase["clientSecret"].split("_secret_")[0])


async def test_refund_in_steps_racing_cancel(
    live_client: httpx.AsyncClient,
    stripe_env: StripeStandIn,
    clean_payments: None,
    make_live_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
) -> None:
    purchase, seller, buyer, products = await _captured(
        live_client, stripe_env, make_live_user, auth_headers
    )
    for amount in (1, 3_999, 6_000):
        await refund_at_provider(stripe_env, _intent_id(purchase), amount)
    events = stripe_env.take_events()
    stripe_env.latency = 0.02

    results = await asyncio.gather(
        stripe_env.deliver(live_client, events),
        stripe_env.deliver(live_client, events),
        live_client.post(f"/api/purchases/{purchase['id']}/cancel", headers=auth_headers(buyer)),
        stripe_env.deliver(live_client, list(reversed(events))),
    )

    assert all(status == 200 for status in results[0] + results[1] + results[3]), results
    assert results[2].status_code in (200, 409), results[2].text
    body = (
        await live_client.get(f"/api/purchases/{purchase['id']}", headers=auth_headers(buyer))
    ).json()
    assert body["status"] in ("refunded", "canceled")
    assert body["refundedAmount"] == "100.00"
    # The app refunded nothing itself: the three refunds are the operator's.
    assert len(stripe_env.calls("POST", "/v1/refunds")) == 3
    assert len(stripe_env.world.refunds) == 3
    # Each unit came back once.
    assert [await product_stock(live_client, p, auth_headers(seller)) for p in products] == [5, 5]
    async with session_scope() as session:
        balances = await load_balances(session, uuid.UUID(purchase["id"]))
        assert (balances.refunded, balances.escrow_held, balances.net) == (10_000, 0, 0)
        titles = [title for title, _ in await notifications_of(session, buyer)]
    assert titles.count("Reembolso de R$ 100,00") == 1, titles


async def test_refund_webhook_racing_release(
    live_client: httpx.AsyncClient,
    stripe_env: StripeStandIn,
    clean_payments: None,
    make_live_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
) -> None:
    purchase, seller, buyer, _ = await _captured(
        live_client, stripe_env, make_live_user, auth_headers
    )
    shipped = await live_client.post(
        f"/api/purchases/{purchase['id']}/ship",
        json={"trackingCode": VALID_S10},
        headers=auth_headers(seller),
    )
    assert shipped.status_code == 200, shipped.text
    stripe_env.take_events()
    await refund_at_provider(stripe_env, _intent_id(purchase), 2_999)
    await refund_at_provider(stripe_env, _intent_id(purchase), 1)
    events = stripe_env.take_events()
    stripe_env.latency = 0.02
    url = f"/api/purchases/{purchase['id']}/confirm-delivery"

    results = await asyncio.gather(
        live_client.post(url, headers=auth_headers(buyer)),
        stripe_env.deliver(live_client, events),
        stripe_env.deliver(live_client, events),
        tasks.release_one(purchase_id=purchase["id"]),
        live_client.post(url, headers=auth_headers(buyer)),
    )
    await deliver_events(stripe_env, live_client, twice=True)

    assert results[0].status_code == 200, results[0].text
    assert results[4].status_code == 200, results[4].text
    body = (await live_client.get(url.rsplit("/", 1)[0], headers=auth_headers(buyer))).json()
    assert (body["status"], body["refundedAmount"]) == ("released", "30.00")
    [transfer] = stripe_env.world.transfers.values()
    assert transfer["amount"] == 6_500
    async with session_scope() as session:
        balances = await load_balances(session, uuid.UUID(purchase["id"]))
        assert (balances.refunded, balances.fees, balances.transferred) == (3_000, 500, 6_500)
        assert (balances.escrow_held, balances.net) == (0, 0)
        titles = [title for title, _ in await notifications_of(session, seller)]
    assert titles.count("Pagamento liberado R$ 65,00") == 1, titles

"""Malformed purchase requests: a clear field error, and no stock or purchase written."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.purchases.models import Purchase
from taskgo.users.models import User
from tests.purchases.conftest import Headers, buy, create_product, product_stock
from tests.standins.stripe_server import Fault, StripeStandIn


async def test_boolean_quantity_rejected(
    client: httpx.AsyncClient,
    db: AsyncSession,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    product = await create_product(client, auth_headers(seller), stock=5)
    # Pydantic's lax mode used to read `true` as a quantity of 1 and place the order.
    response = await client.post(
        "/api/purchases",
        json={"items": [{"productId": str(product), "quantity": True}]},
        headers=auth_headers(buyer, **{"Accept-Language": "en"}),
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation.int_type"
    assert error["details"]["field"] == "items.0.quantity"
    assert error["message"] == "The field items.0.quantity must be an integer."
    assert await product_stock(client, product, auth_headers(buyer)) == 5
    assert await db.scalar(select(func.count()).select_from(Purchase)) == 0


async def test_total_below_charge_minimum(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    sticker = await create_product(client, auth_headers(seller), price="0.10", stock=9)
    # Stripe rejects charges under R$ 0,50, and that rejection used to surface as a 503.
    response = await buy(client, auth_headers(buyer), [(sticker, 4)], **{"Accept-Language": "en"})

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "purchase.total_too_small"
    assert error["details"] == {"field": "items", "minimum": "0.50"}
    assert error["message"] == (
        "A purchase must total at least R$ 0.50. Raise the quantity or add other products."
    )
    assert (await buy(client, auth_headers(buyer), [(sticker, 5)])).status_code == 201
    assert await product_stock(client, sticker, auth_headers(buyer)) == 4
    assert await db.scalar(select(func.count()).select_from(Purchase)) == 1
    assert len(stripe_env.world.payment_intents) == 1


async def test_total_above_charge_maximum(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    boat = await create_product(client, auth_headers(seller), price="999999.99", stock=2)

    response = await buy(client, auth_headers(buyer), [(boat, 2)])

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "purchase.total_too_large"
    assert error["details"] == {"field": "items", "maximum": "999999.99"}
    assert error["message"] == (
        "O valor máximo de um pedido é R$ 999.999,99. Divida a compra em pedidos menores."
    )
    assert await product_stock(client, boat, auth_headers(buyer)) == 2
    assert await db.scalar(select(func.count()).select_from(Purchase)) == 0
    assert stripe_env.world.payment_intents == {}


async def test_max_price_buyable_once(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    boat = await create_product(client, auth_headers(seller), price="999999.99", stock=2)

    response = await buy(client, auth_headers(buyer), [(boat, 1)])

    assert response.status_code == 201, response.text
    assert response.json()["total"] == "999999.99"
    [intent] = stripe_env.world.payment_intents.values()
    assert intent["amount"] == 99_999_999
    assert await product_stock(client, boat, auth_headers(buyer)) == 1


async def test_provider_outage_says_retry_after(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    chair = await create_product(client, auth_headers(seller))
    stripe_env.inject_fault(Fault("POST", "/v1/payment_intents", status=503, remaining=10))

    response = await buy(client, auth_headers(buyer), [(chair, 1)])

    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "payments.unavailable"
    assert response.headers["retry-after"] == "5"
    assert await db.scalar(select(func.count()).select_from(Purchase)) == 0

"""Malformed purchase requests: a clear field error, and no stock or purchase written."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.purchases.models import Purchase
from taskgo.users.models import User
from tests.purchases.conftest import Headers, create_product, product_stock


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

"""A product price may not pass the maximum total of one purchase, so one unit can be paid."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.money import MAX_PRICE_CENTAVOS
from taskgo.products.models import Product
from taskgo.purchases.pricing import MAX_TOTAL_CENTAVOS
from tests.products.conftest import create_product, product_body


@pytest.fixture
async def seller(make_user: Any) -> Any:
    return await make_user(role="partner", verification_status="verified")


def test_max_price_fits_one_purchase() -> None:
    assert MAX_PRICE_CENTAVOS <= MAX_TOTAL_CENTAVOS


def assert_names_maximum(message: str, start: str) -> None:
    assert message.startswith(start), message
    # The amount's separators depend on the language, so only its digits are compared.
    assert re.sub(r"[^0-9]", "", message) == "99999999", message


@pytest.mark.parametrize(
    ("language", "start"),
    [
        ("pt-BR", "O campo price deve ser de no máximo R$ 999"),
        ("en", "The field price must be at most R$ 999"),
    ],
)
async def test_create_above_max_price(
    client: httpx.AsyncClient,
    db: AsyncSession,
    seller: Any,
    auth_headers: Any,
    language: str,
    start: str,
) -> None:
    response = await client.post(
        "/api/products",
        json=product_body("Lancha", price="1000000.00"),
        headers=auth_headers(seller, **{"Accept-Language": language}),
    )

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "money.too_large"
    assert error["details"]["field"] == "price"
    assert_names_maximum(error["message"], start)
    count = select(func.count()).select_from(Product).where(Product.seller_id == seller.id)
    assert await db.scalar(count) == 0


async def test_create_at_max_price(
    client: httpx.AsyncClient, seller: Any, auth_headers: Any
) -> None:
    product = await create_product(client, auth_headers(seller), "Lancha", price="999999.99")

    assert product["price"] == "999999.99"


async def test_patch_above_max_price(
    client: httpx.AsyncClient, db: AsyncSession, seller: Any, auth_headers: Any
) -> None:
    product = await create_product(client, auth_headers(seller), "Lancha", price="500000.00")

    response = await client.patch(
        f"/api/products/{product['id']}",
        json={"price": "1000000.00", "stock": 7},
        headers=auth_headers(seller, **{"Accept-Language": "en"}),
    )

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "money.too_large"
    assert error["details"]["field"] == "price"
    assert_names_maximum(error["message"], "The field price must be at most R$ 999")
    stored = await db.execute(
        select(Product.price_cents, Product.stock).where(Product.id == product["id"])
    )
    assert stored.one() == (50_000_000, 3)

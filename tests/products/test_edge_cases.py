"""Inputs a careless or hostile client sends: foreign cursors, null updates, filter bounds."""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.products.models import Product
from tests.products.conftest import CASCAVEL, FOZ, create_product

CASCAVEL_QUERY = {"lat": CASCAVEL[0], "lng": CASCAVEL[1]}


async def first_cursor(client: httpx.AsyncClient, make_user: Any, auth_headers: Any) -> str:
    seller = await make_user(role="partner")
    for index in range(3):
        await create_product(client, auth_headers(seller), f"Cesto {index}", description="palha")
    page = await client.get(
        "/api/products", params={**CASCAVEL_QUERY, "limit": 1}, headers=auth_headers(seller)
    )
    cursor = page.json()["nextCursor"]
    assert cursor
    return str(cursor)


@pytest.mark.parametrize(
    "params",
    [
        {"lat": FOZ[0], "lng": FOZ[1]},
        {**CASCAVEL_QUERY, "q": "palha"},
        {**CASCAVEL_QUERY, "category": "artesanato"},
    ],
    ids=["other-city", "other-search", "other-category"],
)
async def test_foreign_cursor_is_rejected(
    client: httpx.AsyncClient, make_user: Any, auth_headers: Any, params: dict[str, Any]
) -> None:
    cursor = await first_cursor(client, make_user, auth_headers)
    buyer = await make_user(role="client")
    # At Foz, a Cascavel cursor would skip every Foz product newer than its position.
    await create_product(client, auth_headers(await make_user(role="partner")), "Rede", at=FOZ)
    response = await client.get(
        "/api/products", params={**params, "cursor": cursor}, headers=auth_headers(buyer)
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "pagination.invalid_cursor"
    assert error["details"]["field"] == "cursor"


@pytest.mark.parametrize(
    "position",
    [
        ["2024-01-01T00:00:00+00:00", 5],
        ["0001-01-01T00:00:00+14:00", "00000000-0000-0000-0000-000000000000"],
    ],
    ids=["number-id", "year-one"],
)
async def test_tampered_cursor_is_422(
    client: httpx.AsyncClient, make_user: Any, auth_headers: Any, position: list[Any]
) -> None:
    buyer = await make_user(role="client")
    forged = base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")
    response = await client.get(
        "/api/products", params={**CASCAVEL_QUERY, "cursor": forged}, headers=auth_headers(buyer)
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "pagination.invalid_cursor"


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("pt-BR", "O preço mínimo (R$ 1.500,00) é maior que o máximo (R$ 20,00)."),
        ("en", "The minimum price (R$ 1,500.00) is higher than the maximum (R$ 20.00)."),
    ],
)
async def test_price_filter_inverted_range(
    client: httpx.AsyncClient, make_user: Any, auth_headers: Any, language: str, message: str
) -> None:
    buyer = await make_user(role="client")
    response = await client.get(
        "/api/products",
        params={**CASCAVEL_QUERY, "minPrice": "1500", "maxPrice": "20"},
        headers=auth_headers(buyer, **{"Accept-Language": language}),
    )

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "product.price_range_inverted"
    assert error["details"]["field"] == "minPrice"
    assert error["message"] == message


@pytest.mark.parametrize(
    ("field", "value", "code", "amount_digits"),
    [
        ("minPrice", "-1", "money.too_small", "000"),
        ("maxPrice", "1000000.00", "money.too_large", "99999999"),
    ],
)
@pytest.mark.parametrize("language", ["pt-BR", "en"])
async def test_price_filter_message_complete(
    client: httpx.AsyncClient,
    make_user: Any,
    auth_headers: Any,
    field: str,
    value: str,
    code: str,
    amount_digits: str,
    language: str,
) -> None:
    buyer = await make_user(role="client")
    response = await client.get(
        "/api/products",
        params={**CASCAVEL_QUERY, field: value},
        headers=auth_headers(buyer, **{"Accept-Language": language}),
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == code
    assert error["details"]["field"] == field
    assert field in error["message"]
    assert "R$ " in error["message"]
    # The amount's separators depend on the language, so only its digits are compared.
    assert re.sub(r"[^0-9]", "", error["message"]) == amount_digits
    assert "{" not in error["message"]


async def test_zero_min_price_accepted(
    client: httpx.AsyncClient, make_user: Any, auth_headers: Any
) -> None:
    seller = await make_user(role="partner")
    await create_product(client, auth_headers(seller), "Cesto barato", price="0.01")
    response = await client.get(
        "/api/products",
        params={**CASCAVEL_QUERY, "minPrice": "0", "maxPrice": "0.01"},
        headers=auth_headers(seller),
    )
    assert response.status_code == 200, response.text
    assert [item["title"] for item in response.json()["items"]] == ["Cesto barato"]


@pytest.mark.parametrize(
    ("field", "code"),
    [
        ("title", "validation.string_type"),
        ("description", "validation.string_type"),
        ("price", "money.invalid"),
        ("category", "validation.string_type"),
        ("stock", "validation.int_type"),
        ("status", "validation.literal_error"),
    ],
)
async def test_patch_null_field_rejected(
    client: httpx.AsyncClient,
    make_user: Any,
    auth_headers: Any,
    db: AsyncSession,
    field: str,
    code: str,
) -> None:
    seller = await make_user(role="partner")
    product = await create_product(client, auth_headers(seller), "Cesto de palha")
    # A null must fail instead of being dropped with a 200, as if the field had changed.
    response = await client.patch(
        f"/api/products/{product['id']}",
        json={"stock": 5, field: None},
        headers=auth_headers(seller),
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["details"]["field"] == field
    stock = await db.scalar(select(Product.stock).where(Product.id == product["id"]))
    assert stock == 3

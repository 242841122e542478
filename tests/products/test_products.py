"""Products by city: creation from GPS, validation, ownership and the travel scenario."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.products.models import Product
from tests.products.conftest import CASCAVEL, CASCAVEL_ID, FOZ, FOZ_ID, create_product, product_body


@pytest.fixture
async def seller(make_user: Any) -> Any:
    return await make_user(role="partner", name="Carla Vendedora", verification_status="verified")


async def test_create_binds_city_from_gps(
    client: httpx.AsyncClient, seller: Any, auth_headers: Any, db: AsyncSession
) -> None:
    product = await create_product(client, auth_headers(seller), "Pote de cerâmica", price="19.99")
    assert product["createdInCity"] == {"id": CASCAVEL_ID, "name": "Cascavel", "uf": "PR"}
    assert product["price"] == "19.99"
    assert product["sellerId"] == str(seller.id)
    stored = await db.scalar(select(Product.price_cents).where(Product.id == product["id"]))
    assert stored == 1999


async def test_create_alias_path(client: httpx.AsyncClient, seller: Any, auth_headers: Any) -> None:
    response = await client.post(
        "/api/products/create", json=product_body("Vaso de barro"), headers=auth_headers(seller)
    )
    assert response.status_code == 201
    assert response.json()["createdInCity"]["id"] == CASCAVEL_ID


async def test_client_cannot_create(
    client: httpx.AsyncClient, make_user: Any, auth_headers: Any
) -> None:
    buyer = await make_user(role="client")
    response = await client.post(
        "/api/products", json=product_body("Vaso"), headers=auth_headers(buyer)
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "auth.role_required"


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("price", "19.999", "money.too_many_decimals"),
        ("price", "0", "money.too_small"),
        ("price", "-5.00", "money.too_small"),
        ("price", "1000000.01", "money.too_large"),
        ("price", "19,99", "money.decimal_comma"),
        ("title", "ab", "validation.string_too_short"),
        ("title", "x" * 121, "validation.string_too_long"),
        ("description", "x" * 5001, "validation.string_too_long"),
        ("stock", -1, "validation.greater_than_equal"),
        # Pydantic's lax mode used to store `true` as a stock of 1.
        ("stock", True, "validation.int_type"),
        ("price", "1e999999999", "money.too_large"),
        ("lat", 91, "location.latitude_out_of_range"),
        ("lng", "-53,45", "location.decimal_comma"),
    ],
)
async def test_create_rejects_bad_field(
    client: httpx.AsyncClient,
    seller: Any,
    auth_headers: Any,
    db: AsyncSession,
    field: str,
    value: Any,
    code: str,
) -> None:
    response = await client.post(
        "/api/products",
        json=product_body("Vaso válido", **{field: value}),
        headers=auth_headers(seller),
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["details"]["field"] == field
    assert await db.scalar(select(Product.id).where(Product.seller_id == seller.id)) is None


async def test_create_outside_brazil_rejected(
    client: httpx.AsyncClient, seller: Any, auth_headers: Any
) -> None:
    response = await client.post(
        "/api/products",
        json=product_body("Vaso", at=(-25.30, -57.60)),
        headers=auth_headers(seller),
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "location.outside_coverage"


async def test_price_as_number_exact(
    client: httpx.AsyncClient, seller: Any, auth_headers: Any
) -> None:
    product = await create_product(client, auth_headers(seller), "Caneca", price=0.1)
    assert product["price"] == "0.10"


async def test_idempotent_create_replays(
    client: httpx.AsyncClient, seller: Any, auth_headers: Any, db: AsyncSession
) -> None:
    headers = auth_headers(seller, **{"Idempotency-Key": "create-vaso-1"})
    first = await client.post("/api/products", json=product_body("Vaso azul"), headers=headers)
    second = await client.post("/api/products", json=product_body("Vaso azul"), headers=headers)
    other = await client.post("/api/products", json=product_body("Vaso verde"), headers=headers)
    assert first.status_code == 201
    assert second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "request.idempotency_key_reused"
    rows = (await db.scalars(select(Product).where(Product.seller_id == seller.id))).all()
    assert len(rows) == 1


async def test_drawn_travel_scenario(
    client: httpx.AsyncClient, make_user: Any, auth_headers: Any
) -> None:
    cascavel_seller = await make_user(role="partner", name="Seller Cascavel")
    foz_seller = await make_user(role="partner", name="Seller Foz")
    buyer = await make_user(role="client", name="Cliente")
    for index in range(10):
        await create_product(
            client, auth_headers(cascavel_seller), f"Cascavel item {index}", at=CASCAVEL
        )
    for index in range(8):
        await create_product(client, auth_headers(foz_seller), f"Foz item {index}", at=FOZ)

    at_cascavel = await client.get(
        "/api/products",
        params={"lat": CASCAVEL[0], "lng": CASCAVEL[1], "limit": 50},
        headers=auth_headers(buyer),
    )
    assert at_cascavel.status_code == 200, at_cascavel.text
    assert at_cascavel.json()["city"]["id"] == CASCAVEL_ID
    assert sorted(item["title"] for item in at_cascavel.json()["items"]) == sorted(
        f"Cascavel item {index}" for index in range(10)
    )

    at_foz = await client.get(
        "/api/products",
        params={"lat": FOZ[0], "lng": FOZ[1], "limit": 50},
        headers=auth_headers(buyer),
    )
    assert at_foz.json()["city"]["id"] == FOZ_ID
    assert len(at_foz.json()["items"]) == 8

    # The Cascavel seller travels to Foz and lists one more product there.
    new_one = await create_product(client, auth_headers(cascavel_seller), "Feito em viagem", at=FOZ)
    assert new_one["createdInCity"]["id"] == FOZ_ID
    at_foz_again = await client.get(
        "/api/products",
        params={"lat": FOZ[0], "lng": FOZ[1], "limit": 50},
        headers=auth_headers(buyer),
    )
    titles = [item["title"] for item in at_foz_again.json()["items"]]
    assert len(titles) == 9
    assert titles[0] == "Feito em viagem"
    back_at_cascavel = await client.get(
        "/api/products",
        params={"lat": CASCAVEL[0], "lng": CASCAVEL[1], "limit": 50},
        headers=auth_headers(buyer),
    )
    assert len(back_at_cascavel.json()["items"]) == 10


async def test_listing_records_location(
    client: httpx.AsyncClient, make_user: Any, auth_headers: Any
) -> None:
    buyer = await make_user(role="client")
    await client.get(
        "/api/products", params={"lat": FOZ[0], "lng": FOZ[1]}, headers=auth_headers(buyer)
    )
    me = await client.get("/api/me", headers=auth_headers(buyer))
    assert me.json()["currentCity"]["id"] == FOZ_ID


async def test_listing_rejects_decimal_comma(
    client: httpx.AsyncClient, make_user: Any, auth_headers: Any
) -> None:
    buyer = await make_user(role="client")
    response = await client.get(
        "/api/products", params={"lat": "-24,9555", "lng": "-53.4552"}, headers=auth_headers(buyer)
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"]["field"] == "lat"
    assert error["code"] == "location.decimal_comma"
    assert "ponto" in error["message"]


async def test_keyset_pages_stable_under_inserts(
    client: httpx.AsyncClient, seller: Any, auth_headers: Any, make_user: Any
) -> None:
    buyer = await make_user(role="client")
    for index in range(7):
        await create_product(client, auth_headers(seller), f"Item {index}")
    params = {"lat": CASCAVEL[0], "lng": CASCAVEL[1], "limit": 3}
    first = await client.get("/api/products", params=params, headers=auth_headers(buyer))
    seen = [item["title"] for item in first.json()["items"]]
    # New products published between pages must not shift the next page.
    await create_product(client, auth_headers(seller), "Novidade 1")
    await create_product(client, auth_headers(seller), "Novidade 2")
    cursor = first.json()["nextCursor"]
    while cursor:
        page = await client.get(
            "/api/products", params={**params, "cursor": cursor}, headers=auth_headers(buyer)
        )
        seen += [item["title"] for item in page.json()["items"]]
        cursor = page.json()["nextCursor"]
    assert seen == [f"Item {index}" for index in reversed(range(7))]


async def test_bad_cursor_is_422(
    client: httpx.AsyncClient, make_user: Any, auth_headers: Any
) -> None:
    buyer = await make_user(role="client")
    response = await client.get(
        "/api/products",
        params={"lat": CASCAVEL[0], "lng": CASCAVEL[1], "cursor": "garbage!"},
        headers=auth_headers(buyer),
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "pagination.invalid_cursor"


async def test_filters_category_price_and_search(
    client: httpx.AsyncClient, seller: Any, auth_headers: Any, make_user: Any
) -> None:
    buyer = await make_user(role="client")
    headers = auth_headers(seller)
    await create_product(
        client,
        headers,
        "Pão de queijo congelado",
        category="alimentos",
        price="25.00",
        description="Feito com queijo canastra",
    )
    await create_product(client, headers, "Caneca artesanal", category="artesanato", price="40.00")
    await create_product(client, headers, "Pães caseiros", category="alimentos", price="12.50")
    base = {"lat": CASCAVEL[0], "lng": CASCAVEL[1]}

    async def titles(**params: Any) -> list[str]:
        response = await client.get(
            "/api/products", params={**base, **params}, headers=auth_headers(buyer)
        )
        assert response.status_code == 200, response.text
        return sorted(item["title"] for item in response.json()["items"])

    assert await titles(category="alimentos") == sorted(
        ["Pão de queijo congelado", "Pães caseiros"]
    )
    assert await titles(minPrice="20", maxPrice="30.00") == ["Pão de queijo congelado"]
    assert await titles(q="pao") == ["Pão de queijo congelado"]
    assert await titles(q="PÃES") == ["Pães caseiros"]
    assert await titles(q="QUEIJO canastra") == ["Pão de queijo congelado"]
    assert await titles(q="canecas") == ["Caneca artesanal"]


async def test_owner_only_writes(
    client: httpx.AsyncClient, seller: Any, make_user: Any, auth_headers: Any
) -> None:
    other = await make_user(role="partner")
    product = await create_product(client, auth_headers(seller), "Banco de madeira")
    patch = await client.patch(
        f"/api/products/{product['id']}", json={"price": "10.00"}, headers=auth_headers(other)
    )
    delete = await client.delete(f"/api/products/{product['id']}", headers=auth_headers(other))
    assert patch.status_code == 403
    assert patch.json()["error"]["code"] == "product.not_owner"
    assert delete.status_code == 403
    unchanged = await client.get(f"/api/products/{product['id']}", headers=auth_headers(other))
    assert unchanged.json()["price"] == "19.99"


async def test_draft_hidden_from_others(
    client: httpx.AsyncClient, seller: Any, make_user: Any, auth_headers: Any
) -> None:
    other = await make_user(role="client")
    draft = await create_product(client, auth_headers(seller), "Rascunho", status="draft")
    assert (
        await client.get(f"/api/products/{draft['id']}", headers=auth_headers(other))
    ).status_code == 404
    assert (
        await client.get(f"/api/products/{draft['id']}", headers=auth_headers(seller))
    ).status_code == 200
    listing = await client.get(
        "/api/products",
        params={"lat": CASCAVEL[0], "lng": CASCAVEL[1]},
        headers=auth_headers(other),
    )
    assert listing.json()["items"] == []
    patch = await client.patch(
        f"/api/products/{draft['id']}", json={"title": "Tentativa"}, headers=auth_headers(other)
    )
    assert patch.status_code == 404


async def test_owner_patch_and_soft_delete(
    client: httpx.AsyncClient, seller: Any, auth_headers: Any, db: AsyncSession
) -> None:
    headers = auth_headers(seller)
    product = await create_product(client, headers, "Mesa de centro")
    patched = await client.patch(
        f"/api/products/{product['id']}",
        json={"price": "150.50", "stock": 0, "title": "Mesa rústica"},
        headers=headers,
    )
    assert patched.status_code == 200
    assert patched.json()["price"] == "150.50"
    assert patched.json()["title"] == "Mesa rústica"
    assert patched.json()["createdInCity"]["id"] == CASCAVEL_ID

    deleted = await client.delete(f"/api/products/{product['id']}", headers=headers)
    assert deleted.status_code == 204
    assert (await client.get(f"/api/products/{product['id']}", headers=headers)).status_code == 404
    row = await db.scalar(select(Product).where(Product.id == product["id"]))
    assert row is not None
    assert row.status == "deleted"
    assert row.deleted_at is not None

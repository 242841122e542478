"""Service categories and the categories a partner serves."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.service_orders.models import PartnerCategory
from tests.conftest import MakeUser
from tests.service_orders.conftest import AuthHeaders, MakePartner


async def test_categories_in_portuguese(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/service-categories")

    assert response.status_code == 200
    categories = response.json()
    slugs = [category["slug"] for category in categories]
    assert slugs[:8] == [
        "pintura",
        "eletrica",
        "hidraulica",
        "limpeza",
        "montagem-de-moveis",
        "jardinagem",
        "reformas",
        "fretes",
    ]
    assert len(slugs) >= 12
    assert categories[0] == {"slug": "pintura", "name": "Pintura"}
    assert categories[1] == {"slug": "eletrica", "name": "Elétrica"}


async def test_categories_in_english(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/service-categories", headers={"Accept-Language": "en"})

    names = {category["slug"]: category["name"] for category in response.json()}
    assert names["pintura"] == "Painting"
    assert names["hidraulica"] == "Plumbing"


async def test_partner_sets_categories(
    client: httpx.AsyncClient,
    db: AsyncSession,
    make_partner: MakePartner,
    auth_headers: AuthHeaders,
) -> None:
    partner = await make_partner(categories=["pintura"])

    response = await client.put(
        "/api/partners/me/categories",
        json={"categories": ["hidraulica", "eletrica", "hidraulica"]},
        headers=auth_headers(partner),
    )

    assert response.status_code == 200
    assert response.json() == [
        {"slug": "eletrica", "name": "Elétrica"},
        {"slug": "hidraulica", "name": "Hidráulica"},
    ]
    stored = await db.scalars(
        select(PartnerCategory.category_slug).where(PartnerCategory.partner_id == partner.id)
    )
    assert sorted(stored) == ["eletrica", "hidraulica"]
    again = await client.get("/api/partners/me/categories", headers=auth_headers(partner))
    assert [category["slug"] for category in again.json()] == ["eletrica", "hidraulica"]


async def test_empty_list_clears_categories(
    client: httpx.AsyncClient, make_partner: MakePartner, auth_headers: AuthHeaders
) -> None:
    partner = await make_partner(categories=["pintura", "limpeza"])

    response = await client.put(
        "/api/partners/me/categories", json={"categories": []}, headers=auth_headers(partner)
    )

    assert response.status_code == 200
    assert response.json() == []


async def test_unknown_category_changes_nothing(
    client: httpx.AsyncClient,
    db: AsyncSession,
    make_partner: MakePartner,
    auth_headers: AuthHeaders,
) -> None:
    partner = await make_partner(categories=["pintura"])

    response = await client.put(
        "/api/partners/me/categories",
        json={"categories": ["limpeza", "astrologia"]},
        headers=auth_headers(partner, **{"Accept-Language": "en"}),
    )

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "service_category.unknown"
    assert error["details"]["field"] == "categories.1"
    assert "astrologia" in error["message"]
    assert error["message"].startswith("Unknown service category")
    stored = await db.scalars(
        select(PartnerCategory.category_slug).where(PartnerCategory.partner_id == partner.id)
    )
    assert list(stored) == ["pintura"]


async def test_bad_slug_shape_is_422(
    client: httpx.AsyncClient, make_partner: MakePartner, auth_headers: AuthHeaders
) -> None:
    partner = await make_partner()

    response = await client.put(
        "/api/partners/me/categories",
        json={"categories": ["Pintura Geral"]},
        headers=auth_headers(partner),
    )

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "categories.0"


async def test_too_many_categories_is_422(
    client: httpx.AsyncClient, make_partner: MakePartner, auth_headers: AuthHeaders
) -> None:
    partner = await make_partner()
    every = (await client.get("/api/service-categories")).json()

    response = await client.put(
        "/api/partners/me/categories",
        json={"categories": [category["slug"] for category in every]},
        headers=auth_headers(partner),
    )

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "categories"


async def test_client_cannot_set_categories(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    customer = await make_user(role="client")

    response = await client.put(
        "/api/partners/me/categories",
        json={"categories": ["pintura"]},
        headers=auth_headers(customer),
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "auth.role_required"

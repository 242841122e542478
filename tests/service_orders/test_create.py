"""Creating a service order: city from the GPS fix, partners counted, bad input rejected."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.service_orders.models import ServiceOrder
from tests.conftest import MakeUser
from tests.service_orders.conftest import CASCAVEL, FOZ, AuthHeaders, MakePartner

PostOrder = Callable[..., Any]


async def queued_dispatches(db: AsyncSession) -> list[dict[str, Any]]:
    rows = await db.execute(
        text(
            "SELECT args FROM procrastinate_jobs "
            "WHERE task_name = 'service_orders.dispatch_order' AND status = 'todo'"
        )
    )
    return [row.args for row in rows]


async def test_create_order_in_gps_city(
    db: AsyncSession, make_user: MakeUser, post_order: PostOrder
) -> None:
    customer = await make_user(role="client")

    before = datetime.now(UTC)
    response = await post_order(customer, budget="150.00")

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "open"
    assert body["city"] == {"id": CASCAVEL, "name": "Cascavel", "uf": "PR"}
    assert body["category"] == "pintura"
    assert body["categoryName"] == "Pintura"
    assert body["budget"] == "150.00"
    assert body["clientId"] == str(customer.id)
    assert body["partnerId"] is None
    assert body["notifiedPartners"] == 0
    assert body["lat"] == -24.9555
    expires = datetime.fromisoformat(body["expiresAt"])
    assert before + timedelta(days=7) - timedelta(minutes=1) <= expires
    assert expires <= datetime.now(UTC) + timedelta(days=7, minutes=1)

    order = await db.get(ServiceOrder, uuid.UUID(body["id"]))
    assert order is not None
    assert order.city_id == CASCAVEL
    assert order.budget_cents == 15000
    assert await queued_dispatches(db) == [{"service_order_id": body["id"]}]


async def test_counts_only_matching_partners(
    make_user: MakeUser, make_partner: MakePartner, post_order: PostOrder
) -> None:
    customer = await make_user(role="client")
    await make_partner(name="Ana", categories=["pintura", "limpeza"])
    await make_partner(name="Bruno", categories=["pintura"], locale="en")
    await make_partner(name="Caio", categories=["pintura"], verified=False)
    await make_partner(name="Dora", categories=["pintura"], city=FOZ)
    await make_partner(name="Enzo", categories=["eletrica"])
    await make_partner(name="Flor", categories=["pintura"], city=None)

    response = await post_order(customer)

    assert response.status_code == 201
    assert response.json()["notifiedPartners"] == 2


async def test_order_in_foz_from_foz_fix(
    make_user: MakeUser, make_partner: MakePartner, post_order: PostOrder
) -> None:
    customer = await make_user(role="client")
    await make_partner(city=FOZ)

    response = await post_order(customer, lat=-25.5478, lng=-54.5882)

    assert response.json()["city"]["id"] == FOZ
    assert response.json()["notifiedPartners"] == 1


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"category": "astrologia"}, "service_category.unknown", "category"),
        ({"category": "Pintura"}, "validation.string_pattern_mismatch", "category"),
        ({"description": "curta"}, "validation.string_too_short", "description"),
        ({"description": "x" * 2001}, "validation.string_too_long", "description"),
        ({"lat": 91}, "location.latitude_out_of_range", "lat"),
        ({"lng": "-53,4552"}, "location.decimal_comma", "lng"),
        ({"lat": None}, "location.invalid_number", "lat"),
        ({"budget": "150,00"}, "money.decimal_comma", "budget"),
        ({"budget": "0"}, "money.too_small", "budget"),
        ({"lat": -30.0, "lng": -30.0}, "location.outside_coverage", "lat"),
    ],
)
async def test_bad_input_writes_nothing(
    db: AsyncSession,
    make_user: MakeUser,
    post_order: PostOrder,
    fields: dict[str, Any],
    code: str,
    field: str,
) -> None:
    customer = await make_user(role="client")

    response = await post_order(customer, **fields)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == code
    assert error["details"]["field"] == field
    assert error["message"]
    count = await db.scalar(select(func.count()).select_from(ServiceOrder))
    assert count == 0
    assert await queued_dispatches(db) == []


async def test_missing_category_is_422(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    customer = await make_user(role="client")

    response = await client.post(
        "/api/service-orders",
        json={"description": "Pintar a sala inteira", "lat": -24.9555, "lng": -53.4552},
        headers=auth_headers(customer, **{"Accept-Language": "en"}),
    )

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "category"


async def test_partner_cannot_post_order(make_partner: MakePartner, post_order: PostOrder) -> None:
    partner = await make_partner()

    response = await post_order(partner)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "auth.role_required"


async def test_idempotent_retry_replays(
    db: AsyncSession,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth_headers: AuthHeaders,
) -> None:
    customer = await make_user(role="client")
    body = {
        "category": "pintura",
        "description": "Pintar o muro da frente",
        "lat": -24.9555,
        "lng": -53.4552,
    }
    headers = auth_headers(customer, **{"Idempotency-Key": "order-1"})

    first = await client.post("/api/service-orders", json=body, headers=headers)
    second = await client.post("/api/service-orders", json=body, headers=headers)
    changed = await client.post(
        "/api/service-orders", json={**body, "category": "limpeza"}, headers=headers
    )

    assert first.status_code == 201
    assert second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert changed.status_code == 422
    assert changed.json()["error"]["code"] == "request.idempotency_key_reused"
    assert await db.scalar(select(func.count()).select_from(ServiceOrder)) == 1
    assert len(await queued_dispatches(db)) == 1

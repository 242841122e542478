"""POST /api/locations/update: one row per stay, moved only when the city really changes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.locations.models import UserLocation
from taskgo.users.models import User
from tests.conftest import MakeUser
from tests.locations.conftest import CASCAVEL, CASCAVEL_ID, FOZ, FOZ_ID, post_fix

Headers = Callable[..., dict[str, str]]


async def stays(db: AsyncSession, user_id: uuid.UUID) -> list[UserLocation]:
    rows = await db.scalars(
        select(UserLocation)
        .where(UserLocation.user_id == user_id)
        .order_by(UserLocation.created_at)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def current_city_id(db: AsyncSession, user_id: uuid.UUID) -> int | None:
    return await db.scalar(
        text("SELECT current_city_id FROM users WHERE id = :id"), {"id": user_id}
    )


async def announce_jobs(db: AsyncSession) -> list[dict[str, Any]]:
    rows = await db.execute(
        text(
            "SELECT args FROM procrastinate_jobs "
            "WHERE task_name = 'service_orders.announce_city_orders' ORDER BY id"
        )
    )
    return [row.args for row in rows]


async def test_cascavel_first_fix(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: Headers
) -> None:
    user: User = await make_user()

    response = await post_fix(client, auth_headers(user), CASCAVEL)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "city": {"id": CASCAVEL_ID, "name": "Cascavel", "uf": "PR"},
        "changed": True,
    }
    rows = await stays(db, user.id)
    assert len(rows) == 1
    assert rows[0].is_current
    assert rows[0].city_id == CASCAVEL_ID
    assert rows[0].exited_at is None
    assert await current_city_id(db, user.id) == CASCAVEL_ID


async def test_foz_resolves(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    response = await post_fix(client, auth_headers(await make_user()), FOZ)

    assert response.json()["city"] == {"id": FOZ_ID, "name": "Foz do Iguaçu", "uf": "PR"}


async def test_travel_cascavel_foz_foz_leaves_two_rows(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user()
    headers = auth_headers(user)

    first = await post_fix(client, headers, CASCAVEL)
    second = await post_fix(client, headers, FOZ)
    third = await post_fix(client, headers, (FOZ[0] + 0.001, FOZ[1]))

    assert [r.json()["changed"] for r in (first, second, third)] == [True, True, False]
    assert [r.json()["city"]["id"] for r in (first, second, third)] == [CASCAVEL_ID, FOZ_ID, FOZ_ID]
    rows = await stays(db, user.id)
    assert len(rows) == 2
    assert [row.city_id for row in rows] == [CASCAVEL_ID, FOZ_ID]
    assert [row.is_current for row in rows] == [False, True]
    assert rows[0].exited_at is not None
    assert rows[1].exited_at is None
    assert rows[1].fix_count == 2
    assert rows[1].last_lat == FOZ[0] + 0.001
    assert await current_city_id(db, user.id) == FOZ_ID


async def test_pings_in_same_city_refresh_one_row(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user()
    headers = auth_headers(user)

    for step in range(5):
        response = await post_fix(
            client, headers, (CASCAVEL[0] + step * 0.002, CASCAVEL[1]), accuracy=8.0
        )
        assert response.json()["changed"] is (step == 0)

    rows = await stays(db, user.id)
    assert len(rows) == 1
    assert rows[0].fix_count == 5
    assert rows[0].last_lat == CASCAVEL[0] + 4 * 0.002
    assert rows[0].last_accuracy_m == 8.0


async def test_inaccurate_fix_keeps_city(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user()
    headers = auth_headers(user)
    await post_fix(client, headers, CASCAVEL)

    response = await post_fix(client, headers, FOZ, accuracy=1500.0)

    assert response.status_code == 200
    assert response.json() == {
        "city": {"id": CASCAVEL_ID, "name": "Cascavel", "uf": "PR"},
        "changed": False,
    }
    assert len(await stays(db, user.id)) == 1
    assert await current_city_id(db, user.id) == CASCAVEL_ID


async def test_outside_coverage_writes_nothing(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user()
    headers = auth_headers(user)
    await post_fix(client, headers, CASCAVEL)

    at_sea = await post_fix(client, headers, (-26.0, -40.0))
    swapped = await post_fix(client, headers, (CASCAVEL[1], CASCAVEL[0]))

    assert at_sea.status_code == 422
    assert at_sea.json()["error"]["code"] == "location.outside_coverage"
    assert swapped.json()["error"]["code"] == "location.outside_coverage"
    rows = await stays(db, user.id)
    assert len(rows) == 1
    assert rows[0].fix_count == 1
    assert await current_city_id(db, user.id) == CASCAVEL_ID


async def test_bad_bodies_are_422(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user()
    headers = auth_headers(user)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"lat": "-24,9555", "lng": -53.4552}, "location.decimal_comma", "lat"),
        (
            {"lat": -24.9555, "lng": -53.4552, "accuracy": -5},
            "location.accuracy_negative",
            "accuracy",
        ),
        ({"lat": -24.9555, "lng": "NaN"}, "location.invalid_number", "lng"),
        ({"lat": True, "lng": -53.4552}, "location.invalid_number", "lat"),
        ({"lng": -53.4552}, "validation.missing", "lat"),
    ]

    for body, code, field in cases:
        response = await client.post("/api/locations/update", json=body, headers=headers)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == code, body
        assert response.json()["error"]["details"]["field"] == field, body
    assert await stays(db, user.id) == []


async def test_string_coordinates_with_dot_accepted(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    body = {"lat": "-24.9555", "lng": "-53.4552", "accuracy": "12.5"}

    response = await client.post(
        "/api/locations/update", json=body, headers=auth_headers(await make_user())
    )

    assert response.status_code == 200, response.text
    assert response.json()["city"]["id"] == CASCAVEL_ID


async def test_partner_city_change_announces_orders(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: Headers
) -> None:
    partner = await make_user(role="partner")
    headers = auth_headers(partner)

    await post_fix(client, headers, CASCAVEL)
    await post_fix(client, headers, FOZ)
    await post_fix(client, headers, FOZ)

    assert await announce_jobs(db) == [
        {"partner_id": str(partner.id), "city_id": CASCAVEL_ID},
        {"partner_id": str(partner.id), "city_id": FOZ_ID},
    ]


async def test_client_city_change_announces_nothing(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: Headers
) -> None:
    headers = auth_headers(await make_user(role="client"))

    await post_fix(client, headers, CASCAVEL)
    await post_fix(client, headers, FOZ)

    assert await announce_jobs(db) == []


async def test_me_shows_current_city(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    headers = auth_headers(await make_user())
    await post_fix(client, headers, FOZ)

    response = await client.get("/api/me", headers=headers)

    assert response.json()["currentCity"] == {"id": FOZ_ID, "name": "Foz do Iguaçu", "uf": "PR"}


async def test_requires_authentication(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/locations/update", json={"lat": CASCAVEL[0], "lng": CASCAVEL[1]}
    )

    assert response.status_code == 401


async def test_retry_with_idempotency_key_replays(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user(role="partner")
    headers = auth_headers(user, **{"Idempotency-Key": "fix-0001"})

    first = await post_fix(client, headers, CASCAVEL)
    retry = await post_fix(client, headers, CASCAVEL)
    other_body = await post_fix(client, headers, FOZ)

    assert first.json() == retry.json()
    assert retry.json()["changed"] is True
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert other_body.status_code == 422
    assert other_body.json()["error"]["code"] == "request.idempotency_key_reused"
    rows = await stays(db, user.id)
    assert len(rows) == 1
    assert rows[0].fix_count == 1
    assert len(await announce_jobs(db)) == 1

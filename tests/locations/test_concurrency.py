"""At most one current stay per user, also when fixes arrive at the same time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.db.session import session_scope
from taskgo.locations.models import UserLocation
from taskgo.locations.service import record_fix
from taskgo.users.models import User
from tests.conftest import MakeUser
from tests.locations.conftest import CASCAVEL, CASCAVEL_ID, CURITIBA, FOZ, post_fix

Headers = Callable[..., dict[str, str]]


async def current_rows(user_id: uuid.UUID) -> list[UserLocation]:
    async with session_scope() as session:
        rows = await session.scalars(
            select(UserLocation).where(
                UserLocation.user_id == user_id, UserLocation.is_current.is_(True)
            )
        )
        return list(rows)


@pytest.mark.timeout(120)
async def test_concurrent_first_fixes_open_one_stay(
    live_client: httpx.AsyncClient, make_live_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_live_user()
    headers = auth_headers(user)

    responses = await asyncio.gather(*(post_fix(live_client, headers, CASCAVEL) for _ in range(12)))

    assert [r.status_code for r in responses] == [200] * 12
    assert sum(r.json()["changed"] for r in responses) == 1
    async with session_scope() as session:
        total = await session.scalar(select(func.count()).where(UserLocation.user_id == user.id))
    assert total == 1
    assert [row.city_id for row in await current_rows(user.id)] == [CASCAVEL_ID]


@pytest.mark.timeout(120)
async def test_concurrent_moves_keep_one_current_row(
    live_client: httpx.AsyncClient, make_live_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_live_user(role="partner")
    headers = auth_headers(user)
    places = [CASCAVEL, FOZ, CURITIBA]

    responses = await asyncio.gather(
        *(post_fix(live_client, headers, places[i % 3]) for i in range(30))
    )

    assert [r.status_code for r in responses] == [200] * 30
    current = await current_rows(user.id)
    assert len(current) == 1
    async with session_scope() as session:
        user_city = await session.scalar(
            text("SELECT current_city_id FROM users WHERE id = :id"), {"id": user.id}
        )
        stays = await session.scalar(select(func.count()).where(UserLocation.user_id == user.id))
        announced = await session.scalar(
            text(
                "SELECT count(*) FROM procrastinate_jobs "
                "WHERE task_name = 'service_orders.announce_city_orders' "
                "AND args->>'partner_id' = :id"
            ),
            {"id": str(user.id)},
        )
    assert user_city == current[0].city_id
    changes = sum(r.json()["changed"] for r in responses)
    assert stays == changes
    assert announced == changes


async def test_database_rejects_second_current_row(db: AsyncSession, make_user: MakeUser) -> None:
    user = await make_user()
    fields = {"last_lat": CASCAVEL[0], "last_lng": CASCAVEL[1], "is_current": True}
    now = await db.scalar(select(func.now()))
    db.add(
        UserLocation(
            user_id=user.id, city_id=CASCAVEL_ID, entered_at=now, last_seen_at=now, **fields
        )
    )
    await db.flush()

    with pytest.raises(IntegrityError, match="uq_user_locations_one_current"):
        async with db.begin_nested():
            db.add(
                UserLocation(
                    user_id=user.id, city_id=CASCAVEL_ID, entered_at=now, last_seen_at=now, **fields
                )
            )
            await db.flush()


@pytest.mark.timeout(120)
async def test_stale_user_copy_still_moves_city(
    live_client: httpx.AsyncClient, make_live_user: MakeUser
) -> None:
    user = await make_live_user()
    async with session_scope() as session:
        await record_fix(
            session,
            user=await session.get_one(User, user.id),
            lat=CASCAVEL[0],
            lng=CASCAVEL[1],
            accuracy=10.0,
        )

    async with session_scope() as slow:
        stale = await slow.get_one(User, user.id)  # loaded while the user is in Cascavel
        async with session_scope() as fast:
            await record_fix(
                fast, user=await fast.get_one(User, user.id), lat=FOZ[0], lng=FOZ[1], accuracy=10.0
            )
        city, changed = await record_fix(
            slow, user=stale, lat=CASCAVEL[0], lng=CASCAVEL[1], accuracy=10.0
        )

    assert changed is True
    assert city.ibge_code == CASCAVEL_ID
    async with session_scope() as session:
        stored = await session.scalar(
            text("SELECT current_city_id FROM users WHERE id = :id"), {"id": user.id}
        )
    assert stored == CASCAVEL_ID
    assert [row.city_id for row in await current_rows(user.id)] == [CASCAVEL_ID]

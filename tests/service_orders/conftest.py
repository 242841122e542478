from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.service_orders.models import PartnerCategory
from taskgo.users.models import User
from tests.conftest import MakeUser
from tests.realtime.fixtures import connect_socket, socket_server, token_for

__all__ = ["connect_socket", "socket_server", "token_for"]

CASCAVEL = 4104808
CASCAVEL_FIX = {"lat": -24.9555, "lng": -53.4552}
FOZ = 4108304
FOZ_FIX = {"lat": -25.5478, "lng": -54.5882}

MakePartner = Callable[..., Awaitable[User]]
AuthHeaders = Callable[..., dict[str, str]]


@pytest.fixture
def make_partner(db: AsyncSession, make_user: MakeUser) -> MakePartner:
    """A partner: `await make_partner(city=FOZ, categories=["pintura"], verified=False)`."""

    async def create(
        *,
        city: int | None = CASCAVEL,
        categories: tuple[str, ...] | list[str] = ("pintura",),
        verified: bool = True,
        locale: str = "pt_BR",
        name: str = "Paulo Pintor",
    ) -> User:
        partner = await make_user(
            role="partner",
            name=name,
            locale=locale,
            current_city_id=city,
            verification_status="verified" if verified else "unverified",
        )
        for slug in categories:
            db.add(PartnerCategory(partner_id=partner.id, category_slug=slug))
        await db.flush()
        return partner

    return create


@pytest.fixture
def post_order(client: httpx.AsyncClient, auth_headers: AuthHeaders) -> Callable[..., Any]:
    """POST /api/service-orders as `user` with a painting order in Cascavel by default."""

    async def post(user: User, **fields: Any) -> httpx.Response:
        body = {
            "category": "pintura",
            "description": "Pintar a sala e dois quartos, paredes brancas",
            **CASCAVEL_FIX,
            **fields,
        }
        return await client.post("/api/service-orders", json=body, headers=auth_headers(user))

    return post

"""Helpers for tests whose requests really commit (races, real sockets)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from taskgo.db.session import session_scope
from taskgo.jobs.inline import run_queued_jobs
from taskgo.service_orders.models import PartnerCategory
from taskgo.users.models import User
from tests.conftest import MakeUser
from tests.service_orders.conftest import CASCAVEL

MakeLivePartner = Callable[..., Awaitable[User]]


def live_partner_factory(make_live_user: MakeUser) -> MakeLivePartner:
    async def create(
        *,
        name: str = "Paulo Pintor",
        city: int = CASCAVEL,
        categories: tuple[str, ...] = ("pintura",),
    ) -> User:
        partner = await make_live_user(
            role="partner", name=name, current_city_id=city, verification_status="verified"
        )
        async with session_scope() as session:
            for slug in categories:
                session.add(PartnerCategory(partner_id=partner.id, category_slug=slug))
        return partner

    return create


async def run_jobs_committed() -> list[str]:
    """Run the queued jobs as a worker would, each in its own committed transaction."""
    async with session_scope() as session:
        return await run_queued_jobs(session)

"""User profile reads and changes."""

from __future__ import annotations

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.admin.service import record_audit
from taskgo.errors import AppError
from taskgo.users.models import Role, User
from taskgo.users.schemas import CityOut, MeOut, MeUpdateIn

log = structlog.get_logger(__name__)


def city_view(city_id: int | None) -> CityOut | None:
    if city_id is None:
        return None
    from taskgo.geo.service import get_city  # the geo domain owns municipality data

    city = get_city(city_id)
    if city is None:
        return None
    return CityOut(id=city.ibge_code, name=city.name, uf=city.uf)


async def me_view(session: AsyncSession, user: User) -> MeOut:
    return MeOut(
        id=user.id,
        role=user.role,
        name=user.name,
        email=user.email,
        phone=user.phone,
        locale=user.locale,
        current_city=city_view(user.current_city_id),
        verification_status=user.verification_status,
    )


async def update_profile(session: AsyncSession, *, user: User, changes: MeUpdateIn) -> User:
    if changes.name is not None:
        user.name = changes.name
    if changes.locale is not None:
        user.locale = changes.locale
    if "phone" in changes.model_fields_set:
        user.phone = changes.phone
    await session.flush()
    return user


async def grant_admin(session: AsyncSession, *, firebase_uid: str) -> User:
    user = await session.scalar(
        select(User).where(User.firebase_uid == firebase_uid).with_for_update()
    )
    if user is None:
        raise AppError("user.not_found", status=404, uid=firebase_uid)
    previous = user.role
    user.role = Role.ADMIN
    await record_audit(
        session,
        actor_id=None,
        action="user.grant_admin",
        target_type="user",
        target_id=user.id,
        details={"previous_role": previous, "via": "cli"},
    )
    log.info("user.admin_granted", user_id=str(user.id))
    return user

"""Device tokens: register, move between accounts, remove and deactivate."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import structlog
from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.errors import AppError
from taskgo.notifications.log_sender import token_suffix
from taskgo.notifications.models import DeviceToken
from taskgo.users.models import User

log = structlog.get_logger(__name__)


async def register_device(
    session: AsyncSession, *, user: User, token: str, platform: str
) -> DeviceToken:
    """Store the token for `user`, or take it over from the account last signed in on it.

    Registering again reactivates a token that FCM had rejected, because the app only
    sends a token the FCM SDK has just issued.
    """
    now = datetime.now(UTC)
    statement = (
        insert(DeviceToken)
        .values(id=uuid.uuid4(), user_id=user.id, token=token, platform=platform)
        .on_conflict_do_update(
            index_elements=[DeviceToken.token],
            set_={
                "user_id": user.id,
                "platform": platform,
                "deactivated_at": None,
                "deactivation_reason": None,
                "updated_at": now,
            },
        )
        .returning(DeviceToken.id)
    )
    device_id = (await session.execute(statement)).scalar_one()
    device = await session.scalar(
        select(DeviceToken)
        .where(DeviceToken.id == device_id)
        .execution_options(populate_existing=True)
    )
    assert device is not None
    log.info(
        "device.registered",
        user_id=str(user.id),
        device_id=str(device.id),
        platform=platform,
        token_suffix=token_suffix(token),
    )
    return device


async def remove_device(session: AsyncSession, *, user: User, token: str) -> None:
    """Delete the user's token (sign-out); another user's token is reported as not found."""
    result = await session.execute(
        delete(DeviceToken)
        .where(DeviceToken.token == token, DeviceToken.user_id == user.id)
        .returning(DeviceToken.id)
    )
    if result.scalar_one_or_none() is None:
        raise AppError("device.not_found", status=404, field="token")
    log.info("device.removed", user_id=str(user.id), token_suffix=token_suffix(token))


async def list_devices(session: AsyncSession, *, user: User) -> list[DeviceToken]:
    query = (
        select(DeviceToken)
        .where(DeviceToken.user_id == user.id)
        .order_by(DeviceToken.created_at.desc(), DeviceToken.id)
    )
    return list((await session.scalars(query)).all())


async def deactivate_devices(
    session: AsyncSession, *, reasons: Sequence[tuple[uuid.UUID, str]]
) -> None:
    """Retire tokens FCM reported as unregistered or invalid, keeping the first reason."""
    if not reasons:
        return
    first: dict[uuid.UUID, str] = {}
    for device_id, reason in reasons:
        first.setdefault(device_id, reason)
    await session.execute(
        _DEACTIVATE,
        {"ids": list(first), "reasons": list(first.values()), "now": datetime.now(UTC)},
    )
    log.info("device.deactivated", devices=len(first))


# One statement for a whole batch. A token deactivated earlier keeps its first reason.
_DEACTIVATE = text(
    "UPDATE device_tokens AS device SET deactivated_at = :now, "
    "deactivation_reason = retired.reason, updated_at = :now "
    "FROM unnest(CAST(:ids AS uuid[]), CAST(:reasons AS text[])) AS retired(id, reason) "
    "WHERE device.id = retired.id AND device.deactivated_at IS NULL"
)

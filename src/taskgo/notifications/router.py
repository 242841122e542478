"""HTTP routes of in-app notifications and push device tokens."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from taskgo.auth.deps import CurrentUser
from taskgo.db.session import DbSession
from taskgo.notifications import devices, service
from taskgo.notifications.log_sender import token_suffix
from taskgo.notifications.models import DeviceToken
from taskgo.notifications.schemas import (
    DeviceIn,
    DeviceOut,
    DeviceTokenText,
    NotificationOut,
    NotificationPage,
    UnreadCountOut,
)
from taskgo.pagination import Cursor, Limit

router = APIRouter(prefix="/api", tags=["notifications"])


def device_out(device: DeviceToken) -> DeviceOut:
    return DeviceOut(
        id=device.id,
        platform=device.platform,
        token_suffix=token_suffix(device.token),
        active=device.deactivated_at is None,
        created_at=device.created_at,
        updated_at=device.updated_at,
    )


@router.get("/notifications", response_model=NotificationPage)
async def list_notifications(
    user: CurrentUser,
    session: DbSession,
    cursor: Cursor = None,
    limit: Limit = 20,
    unread: Annotated[bool, Query(description="Only notifications not yet read.")] = False,
) -> NotificationPage:
    """List the caller's notifications, newest first, with the number still unread."""
    rows, next_cursor = await service.list_notifications(
        session, user=user, cursor=cursor, limit=limit, unread_only=unread
    )
    return NotificationPage(
        items=[NotificationOut.model_validate(row) for row in rows],
        next_cursor=next_cursor,
        unread_count=await service.unread_count(session, user=user),
    )


@router.get("/notifications/unread-count", response_model=UnreadCountOut)
async def unread_count(user: CurrentUser, session: DbSession) -> UnreadCountOut:
    return UnreadCountOut(count=await service.unread_count(session, user=user))


@router.post("/notifications/read-all", status_code=status.HTTP_204_NO_CONTENT)
async def mark_all_read(user: CurrentUser, session: DbSession) -> Response:
    await service.mark_all_read(session, user=user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/notifications/{notification_id}/read", status_code=status.HTTP_204_NO_CONTENT)
async def mark_read(notification_id: uuid.UUID, user: CurrentUser, session: DbSession) -> Response:
    """Mark one notification read; 404 `notification.not_found` for another user's."""
    await service.mark_read(session, user=user, notification_id=notification_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/devices", response_model=DeviceOut, status_code=status.HTTP_201_CREATED)
async def register_device(body: DeviceIn, user: CurrentUser, session: DbSession) -> DeviceOut:
    """Register the app's FCM token; a token known under another account moves to this one."""
    device = await devices.register_device(
        session, user=user, token=body.token, platform=body.platform.value
    )
    return device_out(device)


@router.get("/devices", response_model=list[DeviceOut])
async def list_devices(user: CurrentUser, session: DbSession) -> list[DeviceOut]:
    return [device_out(device) for device in await devices.list_devices(session, user=user)]


# `:path` because APNs-derived and web push tokens may contain "/", sent as %2F.
@router.delete("/devices/{token:path}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_device(
    token: Annotated[DeviceTokenText, Path()], user: CurrentUser, session: DbSession
) -> Response:
    """Forget the token at sign-out; 404 `device.not_found` when it is not the caller's."""
    await devices.remove_device(session, user=user, token=token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

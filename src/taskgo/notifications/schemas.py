"""Bodies of the notification and device routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from taskgo.notifications.models import Platform
from taskgo.schemas import ApiModel

# FCM registration tokens are about 160 URL-safe characters; APNs-derived and web push
# tokens look alike. Whitespace or control characters mean a copy error in the app.
DeviceTokenText = Annotated[str, Field(min_length=16, max_length=1024, pattern=r"^[\x21-\x7e]+$")]


class NotificationOut(ApiModel):
    id: uuid.UUID
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    read_at: datetime | None
    created_at: datetime


class NotificationPage(ApiModel):
    items: list[NotificationOut]
    next_cursor: str | None
    unread_count: int


class UnreadCountOut(ApiModel):
    count: int


class DeviceIn(ApiModel):
    token: DeviceTokenText
    platform: Platform


class DeviceOut(ApiModel):
    id: uuid.UUID
    platform: str
    # The last characters only: the full token is a credential for pushing to the device.
    token_suffix: str
    active: bool
    created_at: datetime
    updated_at: datetime

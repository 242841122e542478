"""Notification list and read marks; device token registration and removal."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.notifications.models import DeviceToken
from taskgo.notifications.service import notify
from taskgo.users.models import User
from tests.conftest import MakeUser
from tests.standins.fcm import make_device_token

AuthHeaders = Callable[..., dict[str, str]]


async def give(db: AsyncSession, user: User, count: int) -> list[str]:
    ids: list[str] = []
    for index in range(count):
        created = await notify(
            db,
            user_ids=[user.id],
            kind="order_started",
            title_key="push.order_started.title",
            body_key="push.order_started.body",
            params={"partner": f"Parceiro {index}", "category": "Pintura"},
            push=False,
        )
        ids.extend(str(value) for value in created)
    return ids


async def test_list_newest_first_paged(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    user = await make_user()
    other = await make_user()
    ids = await give(db, user, 3)
    await give(db, other, 1)

    first = await client.get("/api/notifications", params={"limit": 2}, headers=auth_headers(user))
    second = await client.get(
        "/api/notifications",
        params={"limit": 2, "cursor": first.json()["nextCursor"]},
        headers=auth_headers(user),
    )

    assert first.status_code == 200
    assert [item["id"] for item in first.json()["items"]] == [ids[2], ids[1]]
    assert [item["id"] for item in second.json()["items"]] == [ids[0]]
    assert second.json()["nextCursor"] is None
    assert first.json()["unreadCount"] == 3
    item = first.json()["items"][0]
    assert item["title"] == "Serviço iniciado"
    assert item["body"] == "Parceiro 2 começou o serviço de Pintura."
    assert item["readAt"] is None
    assert set(item) == {"id", "kind", "title", "body", "data", "readAt", "createdAt"}


async def test_mark_read_and_unread_filter(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    user = await make_user()
    ids = await give(db, user, 2)

    marked = await client.post(f"/api/notifications/{ids[0]}/read", headers=auth_headers(user))
    again = await client.post(f"/api/notifications/{ids[0]}/read", headers=auth_headers(user))
    unread = await client.get(
        "/api/notifications", params={"unread": "true"}, headers=auth_headers(user)
    )
    count = await client.get("/api/notifications/unread-count", headers=auth_headers(user))

    assert marked.status_code == 204
    assert again.status_code == 204
    assert [item["id"] for item in unread.json()["items"]] == [ids[1]]
    assert count.json() == {"count": 1}


async def test_cannot_mark_others_read(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    owner = await make_user()
    intruder = await make_user()
    [notification_id] = await give(db, owner, 1)

    response = await client.post(
        f"/api/notifications/{notification_id}/read", headers=auth_headers(intruder)
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "notification.not_found"
    listing = await client.get("/api/notifications", headers=auth_headers(owner))
    assert listing.json()["items"][0]["readAt"] is None


async def test_read_all(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    user = await make_user()
    await give(db, user, 3)

    response = await client.post("/api/notifications/read-all", headers=auth_headers(user))

    assert response.status_code == 204
    count = await client.get("/api/notifications/unread-count", headers=auth_headers(user))
    assert count.json() == {"count": 0}


async def test_register_device(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    user = await make_user()
    token = make_device_token()

    response = await client.post(
        "/api/devices", json={"token": token, "platform": "android"}, headers=auth_headers(user)
    )

    assert response.status_code == 201
    assert response.json()["platform"] == "android"
    assert response.json()["tokenSuffix"] == token[-8:]
    assert response.json()["active"] is True
    assert token not in response.text
    stored = await db.scalar(select(DeviceToken).where(DeviceToken.token == token))
    assert stored is not None
    assert stored.user_id == user.id


async def test_token_with_slash_can_be_removed(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    user = await make_user()
    token = "web/push/" + make_device_token()
    await client.post(
        "/api/devices", json={"token": token, "platform": "web"}, headers=auth_headers(user)
    )

    removed = await client.delete(
        f"/api/devices/{quote(token, safe='')}", headers=auth_headers(user)
    )

    assert removed.status_code == 204, removed.text
    assert await db.scalar(select(DeviceToken).where(DeviceToken.token == token)) is None


async def test_token_moves_to_new_account(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    before = await make_user()
    after = await make_user()
    token = make_device_token()
    body = {"token": token, "platform": "ios"}
    await client.post("/api/devices", json=body, headers=auth_headers(before))
    await db.execute(
        update(DeviceToken)
        .where(DeviceToken.token == token)
        .values(deactivated_at=DeviceToken.created_at, deactivation_reason="token_unregistered")
    )

    response = await client.post("/api/devices", json=body, headers=auth_headers(after))

    assert response.status_code == 201
    assert response.json()["active"] is True
    rows = list((await db.scalars(select(DeviceToken).where(DeviceToken.token == token))).all())
    assert len(rows) == 1
    await db.refresh(rows[0])
    assert rows[0].user_id == after.id
    assert rows[0].deactivated_at is None
    old_list = await client.get("/api/devices", headers=auth_headers(before))
    assert old_list.json() == []


async def test_bad_device_input(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    user = await make_user()
    cases = [
        ({"token": "short", "platform": "android"}, "token"),
        ({"token": "has space " + "x" * 20, "platform": "android"}, "token"),
        ({"token": make_device_token(), "platform": "windows-phone"}, "platform"),
        ({"platform": "android"}, "token"),
    ]

    for body, field in cases:
        response = await client.post("/api/devices", json=body, headers=auth_headers(user))
        assert response.status_code == 422, body
        assert response.json()["error"]["details"]["field"] == field


async def test_remove_device(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    owner = await make_user()
    intruder = await make_user()
    token = make_device_token()
    await client.post(
        "/api/devices", json={"token": token, "platform": "web"}, headers=auth_headers(owner)
    )

    denied = await client.delete(f"/api/devices/{token}", headers=auth_headers(intruder))
    removed = await client.delete(f"/api/devices/{token}", headers=auth_headers(owner))
    gone = await client.delete(f"/api/devices/{token}", headers=auth_headers(owner))

    assert denied.status_code == 404
    assert denied.json()["error"]["code"] == "device.not_found"
    assert removed.status_code == 204
    assert gone.status_code == 404
    assert await db.scalar(select(DeviceToken).where(DeviceToken.token == token)) is None


async def test_routes_need_auth(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/notifications")

    assert response.status_code == 401

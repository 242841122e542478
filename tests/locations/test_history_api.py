"""GET /api/locations/history: the caller's own stays, newest first, keyset-paginated."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.conftest import MakeUser
from tests.locations.conftest import (
    CASCAVEL,
    CASCAVEL_ID,
    CURITIBA,
    CURITIBA_ID,
    FOZ,
    FOZ_ID,
    post_fix,
)

Headers = Callable[..., dict[str, str]]


async def test_history_newest_first_and_paginated(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    headers = auth_headers(await make_user())
    for at in (CASCAVEL, FOZ, CURITIBA):
        assert (await post_fix(client, headers, at)).json()["changed"] is True

    first = await client.get("/api/locations/history?limit=2", headers=headers)
    cursor = first.json()["nextCursor"]
    second = await client.get(f"/api/locations/history?limit=2&cursor={cursor}", headers=headers)

    assert first.status_code == 200, first.text
    assert [item["city"]["id"] for item in first.json()["items"]] == [CURITIBA_ID, FOZ_ID]
    assert [item["isCurrent"] for item in first.json()["items"]] == [True, False]
    assert first.json()["items"][0]["exitedAt"] is None
    assert first.json()["items"][1]["exitedAt"] is not None
    assert cursor is not None
    assert [item["city"]["id"] for item in second.json()["items"]] == [CASCAVEL_ID]
    assert second.json()["items"][0]["city"] == {"id": CASCAVEL_ID, "name": "Cascavel", "uf": "PR"}
    assert second.json()["nextCursor"] is None


async def test_history_shows_only_own_stays(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    ana = auth_headers(await make_user(name="Ana"))
    bruno = auth_headers(await make_user(name="Bruno"))
    await post_fix(client, ana, CASCAVEL)
    await post_fix(client, bruno, FOZ)
    await post_fix(client, bruno, CURITIBA)

    ana_history = await client.get("/api/locations/history", headers=ana)
    bruno_history = await client.get("/api/locations/history", headers=bruno)

    assert [item["city"]["id"] for item in ana_history.json()["items"]] == [CASCAVEL_ID]
    assert [item["city"]["id"] for item in bruno_history.json()["items"]] == [CURITIBA_ID, FOZ_ID]


async def test_empty_history(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    response = await client.get("/api/locations/history", headers=auth_headers(await make_user()))

    assert response.json() == {"items": [], "nextCursor": None}


async def test_bad_paging_parameters(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    headers = auth_headers(await make_user())

    too_many = await client.get("/api/locations/history?limit=101", headers=headers)
    bad_cursor = await client.get("/api/locations/history?cursor=not-a-cursor", headers=headers)

    assert too_many.status_code == 422
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["error"]["code"] == "pagination.invalid_cursor"


async def test_requires_authentication(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/locations/history")).status_code == 401

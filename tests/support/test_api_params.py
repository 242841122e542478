"""Support routes: the Retry-After header on 429 and the admin list's query parameter."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.conftest import MakeUser
from tests.support.conftest import SetEnv, new_conversation

Headers = Callable[..., dict[str, str]]


async def _send(client: httpx.AsyncClient, headers: dict[str, str], conversation_id: str) -> int:
    response = await client.post(
        f"/api/support/conversations/{conversation_id}/messages",
        json={"content": "qual a taxa?"},
        headers=headers,
    )
    return response.status_code


async def test_rate_limit_sets_retry_after(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers, support_env: SetEnv
) -> None:
    support_env(SUPPORT_RATE_LIMIT_MESSAGES=1, SUPPORT_RATE_LIMIT_WINDOW_SECONDS=60)
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))
    assert await _send(client, auth_headers(user), conversation_id) == 200

    limited = await client.post(
        f"/api/support/conversations/{conversation_id}/messages",
        json={"content": "e agora?"},
        headers=auth_headers(user),
    )

    assert limited.status_code == 429
    seconds = limited.json()["error"]["details"]["retryAfterSeconds"]
    # The seconds were only in the body, which generic HTTP clients do not read.
    assert limited.headers["retry-after"] == str(seconds)


async def test_admin_list_filter_camel_and_snake(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user()
    admin = await make_user(role="admin", name="Equipe")
    conversation_id = await new_conversation(client, auth_headers(user))
    assert await _send(client, auth_headers(user), conversation_id) == 200

    default = await client.get("/api/admin/support/conversations", headers=auth_headers(admin))
    camel = await client.get(
        "/api/admin/support/conversations?needsHuman=false", headers=auth_headers(admin)
    )
    snake = await client.get(
        "/api/admin/support/conversations?needs_human=false", headers=auth_headers(admin)
    )
    invalid = await client.get(
        "/api/admin/support/conversations?needsHuman=maybe", headers=auth_headers(admin)
    )

    assert default.json()["items"] == []
    assert [item["id"] for item in camel.json()["items"]] == [conversation_id]
    assert [item["id"] for item in snake.json()["items"]] == [conversation_id]
    assert invalid.status_code == 422
    assert invalid.json()["error"]["details"]["field"] == "needsHuman"

"""Transport-level checks: body size limits and NUL characters, before any route runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.middleware import MAX_BODY_BYTES, MAX_MULTIPART_BODY_BYTES
from taskgo.users.models import User
from tests.conftest import MakeUser

Headers = Callable[..., dict[str, str]]


async def test_json_nul_rejected_with_field(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: Headers
) -> None:
    user: User = await make_user(name="Ana Souza")
    response = await client.patch(
        "/api/me", json={"name": "Ana\x00Souza"}, headers=auth_headers(user)
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "request.null_character"
    assert error["details"]["field"] == "name"
    assert "name" in error["message"]
    await db.refresh(user)
    assert user.name == "Ana Souza"


async def test_json_nul_nested_field_path(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    buyer = await make_user(role="client")
    response = await client.post(
        "/api/purchases",
        json={"items": [{"productId": "abc\x00", "quantity": 1}]},
        headers=auth_headers(buyer, **{"Accept-Language": "en"}),
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"]["field"] == "items.0.productId"
    assert error["message"].startswith("The field items.0.productId contains a null character")


@pytest.mark.parametrize("number", [b"NaN", b"-Infinity", b"1e400"])
async def test_json_nul_beside_unusual_number(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers, number: bytes
) -> None:
    # FastAPI's parser reads these numbers and orjson does not, which skipped the check.
    user = await make_user()
    response = await client.patch(
        "/api/me",
        content=b'{"name": "Ana\\u0000Souza", "extra": ' + number + b"}",
        headers=auth_headers(user, **{"Content-Type": "application/json"}),
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "request.null_character"
    assert error["details"]["field"] == "name"


async def test_escaped_backslash_not_nul(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user()
    # The JSON text `a\\u0000b` is a backslash followed by "u0000", not a NUL.
    response = await client.patch(
        "/api/me",
        content=b'{"name": "a\\\\u0000b"}',
        headers=auth_headers(user, **{"Content-Type": "application/json"}),
    )
    assert response.status_code == 200
    assert response.json()["name"] == "a\\u0000b"


async def test_query_nul_rejected(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user()
    response = await client.get(
        "/api/products?lat=-24.9555&lng=-53.4552&q=tinta%00", headers=auth_headers(user)
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "request.null_character"
    assert error["details"]["field"] == "q"


async def test_path_nul_rejected(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user()
    response = await client.delete("/api/devices/abc%00def", headers=auth_headers(user))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "request.null_character_in_path"


async def test_form_nul_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/dev/token",
        content=b"uid=abc&name=x%00y",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "name"


async def test_declared_large_body_413(client: httpx.AsyncClient) -> None:
    body = b'{"uid": "' + b"x" * MAX_BODY_BYTES + b'"}'
    response = await client.post(
        "/api/auth/dev/token",
        content=body,
        headers={"Content-Type": "application/json", "Accept-Language": "en"},
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "request.too_large"
    assert error["details"]["maxBytes"] == MAX_BODY_BYTES
    assert error["message"] == "The request body is too large."


async def _chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        chunk = min(size, total - sent)
        sent += chunk
        yield b" " * chunk


async def test_streamed_large_json_413(client: httpx.AsyncClient) -> None:
    # No Content-Length: the limit applies while the body arrives.
    response = await client.post(
        "/api/auth/dev/token",
        content=_chunks(MAX_BODY_BYTES + 1),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request.too_large"


async def test_streamed_large_multipart_413(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    partner = await make_user(role="partner")
    boundary = b"taskgo-boundary"

    async def multipart() -> AsyncIterator[bytes]:
        yield (
            b"--" + boundary + b"\r\n"
            b'Content-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n"
        )
        async for chunk in _chunks(MAX_MULTIPART_BODY_BYTES + 1):
            yield chunk
        yield b"\r\n--" + boundary + b"--\r\n"

    response = await client.post(
        "/api/products/00000000-0000-0000-0000-000000000000/images",
        content=multipart(),
        headers=auth_headers(
            partner, **{"Content-Type": f"multipart/form-data; boundary={boundary.decode()}"}
        ),
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request.too_large"


async def test_small_multipart_reaches_route(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    partner = await make_user(role="partner")
    response = await client.post(
        "/api/products/00000000-0000-0000-0000-000000000000/images",
        files={"file": ("a.jpg", b"not really a jpeg", "image/jpeg")},
        headers=auth_headers(partner),
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "product.not_found"


async def test_nul_in_key_reported_printable(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user()
    response = await client.patch(
        "/api/me",
        content=b'{"name": "Ana", "extra\\u0000\\u001fkey": 1}',
        headers=auth_headers(user, **{"Content-Type": "application/json"}),
    )
    assert response.status_code == 422
    # The key itself is the text at fault, so its control characters are left out.
    assert response.json()["error"]["details"]["field"] == "extrakey"


async def test_json_suffix_type_checked(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user()
    # FastAPI parses application/*+json as JSON, and the NUL reached the database.
    response = await client.patch(
        "/api/me",
        content=b'{"name": "a\\u0000b"}',
        headers=auth_headers(user, **{"Content-Type": "application/merge-patch+json"}),
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "request.null_character"

"""`/api/me`: reading and changing one's own profile."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.users.models import User

MakeUser = Callable[..., Awaitable[User]]
Headers = Callable[..., dict[str, str]]


@pytest.mark.parametrize(
    ("name", "codepoint"),
    [("Ana\nSouza", "U+000A"), ("Ana\x1b[31m", "U+001B"), ("\u202eanA", "U+202E")],
)
async def test_name_control_character_rejected(
    client: httpx.AsyncClient,
    db: AsyncSession,
    make_user: MakeUser,
    auth_headers: Headers,
    name: str,
    codepoint: str,
) -> None:
    user = await make_user(name="Ana Souza")
    response = await client.patch("/api/me", json={"name": name}, headers=auth_headers(user))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "user.name_control_character"
    assert error["details"]["field"] == "name"
    assert error["message"] == (
        f"O campo name contém um caractere de controle não permitido ({codepoint}). "
        "Remova-o e envie novamente."
    )
    await db.refresh(user)
    assert user.name == "Ana Souza"


async def test_name_control_character_english(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user()
    response = await client.patch(
        "/api/me",
        json={"name": "Ana\tSouza"},
        headers=auth_headers(user, **{"Accept-Language": "en"}),
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"] == (
        "The name field contains a control character that is not allowed (U+0009). "
        "Remove it and send again."
    )


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("\u200b\u200b", "user.name_empty", "O campo name está vazio."),
        ("", "validation.string_too_short", "pelo menos 1 caractere(s)"),
        ("A" * 201, "validation.string_too_long", "no máximo 200 caracteres"),
    ],
)
async def test_name_without_text_rejected(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth_headers: Headers,
    name: str,
    code: str,
    message: str,
) -> None:
    user = await make_user(name="Ana Souza")

    response = await client.patch("/api/me", json={"name": name}, headers=auth_headers(user))

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == code
    assert error["details"]["field"] == "name"
    # A text field's limits speak of characters, not of a list's items.
    assert message in error["message"]


async def test_name_update_trims_spaces(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user()
    response = await client.patch(
        "/api/me", json={"name": "  Ana Maria  ", "locale": "en"}, headers=auth_headers(user)
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Ana Maria"
    assert response.json()["locale"] == "en"


async def test_role_not_changed_by_patch(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user(role="client")
    response = await client.patch("/api/me", json={"role": "admin"}, headers=auth_headers(user))
    assert response.json()["role"] == "client"
    await db.refresh(user)
    assert user.role == "client"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("(45) 99999-0000", "+5545999990000"),
        ("45 3333 4444", "+554533334444"),
        ("+1 415 555 0100", "+14155550100"),
        ("0 45 99999-0000", "+5545999990000"),
    ],
)
async def test_phone_update_normalized(
    client: httpx.AsyncClient,
    db: AsyncSession,
    make_user: MakeUser,
    auth_headers: Headers,
    typed: str,
    stored: str,
) -> None:
    user = await make_user()
    response = await client.patch("/api/me", json={"phone": typed}, headers=auth_headers(user))
    assert response.status_code == 200, response.text
    assert response.json()["phone"] == stored
    await db.refresh(user)
    assert user.phone == stored


async def test_phone_null_clears_it(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user(phone="+5545999990000")
    unchanged = await client.patch("/api/me", json={"name": "Ana"}, headers=auth_headers(user))
    assert unchanged.json()["phone"] == "+5545999990000"
    cleared = await client.patch("/api/me", json={"phone": None}, headers=auth_headers(user))
    assert cleared.status_code == 200
    assert cleared.json()["phone"] is None


@pytest.mark.parametrize(
    "typed",
    ["12345", "abc", "+0 1234 5678", "(45) 9999-000", "(45) 99999-00000", "+" + "1" * 16],
)
async def test_invalid_phone_rejected(
    client: httpx.AsyncClient,
    db: AsyncSession,
    make_user: MakeUser,
    auth_headers: Headers,
    typed: str,
) -> None:
    user = await make_user(phone="+5545999990000")
    response = await client.patch("/api/me", json={"phone": typed}, headers=auth_headers(user))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "user.invalid_phone"
    assert error["details"]["field"] == "phone"
    assert error["message"].startswith("O campo phone não é um telefone válido.")
    await db.refresh(user)
    assert user.phone == "+5545999990000"

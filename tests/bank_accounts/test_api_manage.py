import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.admin.models import AuditLog
from taskgo.bank_accounts.models import BankAccount
from taskgo.users.models import User

from .conftest import account_body

Headers = Callable[[User], dict[str, str]]
MakeUser = Callable[..., Awaitable[User]]


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/bank-accounts", json=account_body(**overrides), headers=headers
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def primary_ids(db: AsyncSession, user_id: uuid.UUID) -> list[str]:
    rows = await db.scalars(
        select(BankAccount.id).where(BankAccount.user_id == user_id, BankAccount.is_primary)
    )
    return [str(row) for row in rows]


async def audit_actions(db: AsyncSession, target_id: str) -> list[str]:
    rows = await db.scalars(
        select(AuditLog.action).where(AuditLog.target_id == target_id).order_by(AuditLog.id)
    )
    return list(rows)


async def test_list_only_own_accounts_masked(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth_headers: Headers,
    partner_headers: dict[str, str],
) -> None:
    first = await create(client, partner_headers, account="111")
    second = await create(client, partner_headers, account="222", pixKey="+5511987654321")
    stranger = await make_user(role="partner")
    await create(client, auth_headers(stranger), account="333", holderDocument="11144477735")

    response = await client.get("/api/bank-accounts", headers=partner_headers)

    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["id"] for item in items] == [first["id"], second["id"]]
    assert [item["isPrimary"] for item in items] == [True, False]
    assert items[1]["pixKey"] == "+55 11 *****-4321"
    assert response.json()["nextCursor"] is None
    assert "5511987654321" not in response.text


async def test_list_paginates(client: httpx.AsyncClient, partner_headers: dict[str, str]) -> None:
    created = [await create(client, partner_headers, account=f"{n}00") for n in range(1, 4)]

    page_one = await client.get("/api/bank-accounts?limit=2", headers=partner_headers)
    cursor = page_one.json()["nextCursor"]
    page_two = await client.get(
        f"/api/bank-accounts?limit=2&cursor={cursor}", headers=partner_headers
    )

    assert [item["id"] for item in page_one.json()["items"]] == [c["id"] for c in created[:2]]
    assert cursor is not None
    assert [item["id"] for item in page_two.json()["items"]] == [created[2]["id"]]
    assert page_two.json()["nextCursor"] is None


async def test_list_client_forbidden(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user(role="client")
    response = await client.get("/api/bank-accounts", headers=auth_headers(user))
    assert response.status_code == 403


async def test_delete_non_primary(
    client: httpx.AsyncClient, db: AsyncSession, partner_headers: dict[str, str]
) -> None:
    await create(client, partner_headers, account="111")
    second = await create(client, partner_headers, account="222")

    response = await client.delete(f"/api/bank-accounts/{second['id']}", headers=partner_headers)

    assert response.status_code == 204
    assert await db.get(BankAccount, uuid.UUID(second["id"])) is None
    assert await audit_actions(db, second["id"]) == ["bank_account.created", "bank_account.deleted"]


async def test_delete_primary_blocked_while_others(
    client: httpx.AsyncClient, db: AsyncSession, partner: User, partner_headers: dict[str, str]
) -> None:
    first = await create(client, partner_headers, account="111")
    second = await create(client, partner_headers, account="222")

    blocked = await client.delete(f"/api/bank-accounts/{first['id']}", headers=partner_headers)
    assert blocked.status_code == 409
    assert blocked.json()["error"]["code"] == "bank_account.primary_delete_forbidden"
    assert await primary_ids(db, partner.id) == [first["id"]]
    assert await audit_actions(db, first["id"]) == ["bank_account.created"]

    removed = await client.delete(f"/api/bank-accounts/{second['id']}", headers=partner_headers)
    last = await client.delete(f"/api/bank-accounts/{first['id']}", headers=partner_headers)
    assert removed.status_code == 204
    assert last.status_code == 204
    assert await primary_ids(db, partner.id) == []


async def test_delete_other_partner_not_found(
    client: httpx.AsyncClient,
    db: AsyncSession,
    make_user: MakeUser,
    auth_headers: Headers,
    partner_headers: dict[str, str],
) -> None:
    stranger = await make_user(role="partner")
    theirs = await create(client, auth_headers(stranger), holderDocument="11144477735")

    response = await client.delete(f"/api/bank-accounts/{theirs['id']}", headers=partner_headers)
    missing = await client.delete(f"/api/bank-accounts/{uuid.uuid4()}", headers=partner_headers)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "bank_account.not_found"
    assert missing.status_code == 404
    assert await db.get(BankAccount, uuid.UUID(theirs["id"])) is not None


async def test_set_primary_switches(
    client: httpx.AsyncClient, db: AsyncSession, partner: User, partner_headers: dict[str, str]
) -> None:
    first = await create(client, partner_headers, account="111")
    second = await create(client, partner_headers, account="222")

    response = await client.put(
        f"/api/bank-accounts/{second['id']}/set-primary", headers=partner_headers
    )

    assert response.status_code == 200
    assert response.json()["isPrimary"] is True
    assert response.json()["account"] == "**2-9"
    assert await primary_ids(db, partner.id) == [second["id"]]
    entries = await db.scalars(
        select(AuditLog).where(AuditLog.action == "bank_account.primary_set")
    )
    assert [(e.target_id, e.details) for e in entries] == [
        (second["id"], {"previous_primary_id": first["id"]})
    ]


async def test_set_primary_already_primary_unchanged(
    client: httpx.AsyncClient, db: AsyncSession, partner: User, partner_headers: dict[str, str]
) -> None:
    first = await create(client, partner_headers)

    response = await client.put(
        f"/api/bank-accounts/{first['id']}/set-primary", headers=partner_headers
    )

    assert response.status_code == 200
    assert response.json()["isPrimary"] is True
    assert await audit_actions(db, first["id"]) == ["bank_account.created"]


async def test_set_primary_other_partner_not_found(
    client: httpx.AsyncClient,
    db: AsyncSession,
    make_user: MakeUser,
    auth_headers: Headers,
    partner_headers: dict[str, str],
) -> None:
    stranger = await make_user(role="partner")
    await create(client, auth_headers(stranger), account="111", holderDocument="11144477735")
    theirs = await create(
        client, auth_headers(stranger), account="222", holderDocument="11144477735"
    )

    response = await client.put(
        f"/api/bank-accounts/{theirs['id']}/set-primary", headers=partner_headers
    )

    assert response.status_code == 404
    account = await db.get(BankAccount, uuid.UUID(theirs["id"]))
    assert account is not None
    assert account.is_primary is False


async def test_secrets_never_logged(
    client: httpx.AsyncClient, partner_headers: dict[str, str]
) -> None:
    with structlog.testing.capture_logs() as events:
        created = await create(client, partner_headers, pixKey="ana.souza@example.com")
        await create(client, partner_headers, account="222")
        await client.post(
            "/api/bank-accounts",
            json=account_body(holderDocument="529.982.247-24"),
            headers=partner_headers,
        )
        await client.put(f"/api/bank-accounts/{created['id']}/set-primary", headers=partner_headers)

    logged = repr(events)
    assert any(event["event"] == "bank_account.created" for event in events)
    for secret in ("52998224725", "52998224724", "12345678", "ana.souza", "example.com"):
        assert secret not in logged


async def test_banks_listed(client: httpx.AsyncClient, partner_headers: dict[str, str]) -> None:
    response = await client.get("/api/banks", headers=partner_headers)

    assert response.status_code == 200
    banks = {bank["code"]: bank for bank in response.json()}
    assert banks["001"]["ispb"] == "00000000"
    assert banks["260"]["name"] == "Nu Pagamentos S.A."

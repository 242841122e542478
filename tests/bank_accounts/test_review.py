import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.admin.models import AuditLog
from taskgo.bank_accounts.models import BankAccount
from taskgo.bank_accounts.review import recheck_holders_after_verification
from taskgo.users.models import User

from .conftest import OTHER_CPF, PARTNER_CPF, account_body, verified_fields

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


async def test_review_queue_lists_flagged_only(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth_headers: Headers,
    partner_headers: dict[str, str],
) -> None:
    admin = await make_user(role="admin")
    await create(client, partner_headers, account="111")
    flagged = await create(client, partner_headers, account="222", holderDocument=OTHER_CPF)

    response = await client.get("/api/admin/bank-accounts", headers=auth_headers(admin))

    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["id"] for item in items] == [flagged["id"]]
    assert items[0]["holderDocument"] == "***.444.777-**"
    assert items[0]["reviewReasons"][0]["code"] == "holder_cpf_mismatch"


async def test_review_queue_admin_only(
    client: httpx.AsyncClient, partner_headers: dict[str, str]
) -> None:
    response = await client.get("/api/admin/bank-accounts", headers=partner_headers)
    assert response.status_code == 403


async def test_review_approve(
    client: httpx.AsyncClient,
    db: AsyncSession,
    make_user: MakeUser,
    auth_headers: Headers,
    partner_headers: dict[str, str],
) -> None:
    admin = await make_user(role="admin")
    flagged = await create(client, partner_headers, holderDocument=OTHER_CPF)

    response = await client.post(
        f"/api/admin/bank-accounts/{flagged['id']}/review",
        json={"approve": True, "note": "Conta conjunta confirmada por telefone."},
        headers=auth_headers(admin),
    )
    again = await client.post(
        f"/api/admin/bank-accounts/{flagged['id']}/review",
        json={"approve": False},
        headers=auth_headers(admin),
    )

    assert response.status_code == 200, response.text
    assert response.json()["reviewStatus"] == "approved"
    assert response.json()["reviewedBy"] == str(admin.id)
    assert response.json()["isPrimary"] is True
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "bank_account.review_invalid_state"
    entry = await db.scalar(select(AuditLog).where(AuditLog.action == "bank_account.approved"))
    assert entry is not None
    assert entry.actor_id == admin.id
    assert entry.details["note"] == "Conta conjunta confirmada por telefone."


async def test_review_reject_primary_promotes_next(
    client: httpx.AsyncClient,
    db: AsyncSession,
    make_user: MakeUser,
    auth_headers: Headers,
    partner_headers: dict[str, str],
) -> None:
    admin = await make_user(role="admin")
    flagged = await create(client, partner_headers, account="111", holderDocument=OTHER_CPF)
    clean = await create(client, partner_headers, account="222")

    response = await client.post(
        f"/api/admin/bank-accounts/{flagged['id']}/review",
        json={"approve": False},
        headers=auth_headers(admin),
    )

    assert response.status_code == 200, response.text
    assert response.json()["reviewStatus"] == "rejected"
    assert response.json()["isPrimary"] is False
    promoted = await db.get(BankAccount, uuid.UUID(clean["id"]))
    assert promoted is not None
    await db.refresh(promoted)
    assert promoted.is_primary is True

    blocked = await client.put(
        f"/api/bank-accounts/{flagged['id']}/set-primary", headers=partner_headers
    )
    assert blocked.status_code == 409
    assert blocked.json()["error"]["code"] == "bank_account.rejected_not_primary"


async def test_recheck_after_verification(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: Headers
) -> None:
    partner = await make_user(role="partner")
    headers = auth_headers(partner)
    own = await create(client, headers, account="111")
    other = await create(client, headers, account="222", holderDocument=OTHER_CPF)
    company = await create(
        client, headers, account="333", holderDocument="12ABC34501DE35", accountHolder="Ana ME"
    )

    for field, value in verified_fields(PARTNER_CPF).items():
        setattr(partner, field, value)
    changed = await recheck_holders_after_verification(db, user=partner)

    assert changed == 3
    states = {}
    for created in (own, other, company):
        account = await db.get(BankAccount, uuid.UUID(created["id"]))
        assert account is not None
        states[created["id"]] = (account.review_status, account.review_reasons)
    assert states[own["id"]] == ("clear", [])
    assert states[other["id"]] == ("pending_review", ["holder_cpf_mismatch"])
    assert states[company["id"]] == ("clear", [])


async def test_recheck_unverified_does_nothing(
    client: httpx.AsyncClient, db: AsyncSession, make_user: MakeUser, auth_headers: Headers
) -> None:
    partner = await make_user(role="partner")
    await create(client, auth_headers(partner))

    assert await recheck_holders_after_verification(db, user=partner) == 0


def test_verified_cpf_context_matches_verification() -> None:
    from taskgo.bank_accounts.sealing import VERIFIED_CPF_CONTEXT

    verification = pytest.importorskip("taskgo.verification.service")
    assert VERIFIED_CPF_CONTEXT == verification.USER_CPF_CONTEXT


async def test_new_account_primary_after_rejection(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth_headers: Headers,
    partner_headers: dict[str, str],
) -> None:
    admin = await make_user(role="admin")
    flagged = await create(client, partner_headers, account="111", holderDocument=OTHER_CPF)
    rejected = await client.post(
        f"/api/admin/bank-accounts/{flagged['id']}/review",
        json={"approve": False},
        headers=auth_headers(admin),
    )
    assert rejected.status_code == 200, rejected.text

    replacement = await create(client, partner_headers, account="222")

    assert replacement["isPrimary"] is True
    listed = await client.get("/api/bank-accounts", headers=partner_headers)
    primaries = [item["id"] for item in listed.json()["items"] if item["isPrimary"]]
    assert primaries == [replacement["id"]]

"""Concurrent requests on real PostgreSQL: one primary account per partner, whatever the order.

These tests use `live_client`, whose requests commit for real, so that two requests run in
two transactions at the same time.
"""

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from taskgo.bank_accounts.models import BankAccount
from taskgo.db.session import session_scope
from taskgo.users.models import User

from .conftest import account_body, verified_fields

Headers = Callable[[User], dict[str, str]]

ROUNDS = 6


async def committed_partner() -> User:
    async with session_scope() as session:
        user = User(
            firebase_uid=f"race-{uuid.uuid4().hex[:12]}",
            role="partner",
            name="Ana Souza",
            **verified_fields(),
        )
        session.add(user)
        await session.flush()
    return user


async def primary_count(user_id: uuid.UUID) -> int:
    async with session_scope() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(BankAccount)
            .where(BankAccount.user_id == user_id, BankAccount.is_primary)
        )
    return int(count or 0)


@pytest.mark.timeout(120)
async def test_race_first_accounts_one_primary(
    live_client: httpx.AsyncClient, auth_headers: Headers
) -> None:
    for _ in range(ROUNDS):
        partner = await committed_partner()
        headers = auth_headers(partner)
        responses = await asyncio.gather(
            *(
                live_client.post(
                    "/api/bank-accounts", json=account_body(account=f"{n}1111"), headers=headers
                )
                for n in range(1, 4)
            )
        )

        assert [response.status_code for response in responses] == [201, 201, 201]
        flags = [response.json()["isPrimary"] for response in responses]
        assert flags.count(True) == 1
        assert await primary_count(partner.id) == 1


@pytest.mark.timeout(120)
async def test_race_set_primary_one_winner(
    live_client: httpx.AsyncClient, auth_headers: Headers
) -> None:
    for _ in range(ROUNDS):
        partner = await committed_partner()
        headers = auth_headers(partner)
        created = []
        for n in range(1, 4):
            response = await live_client.post(
                "/api/bank-accounts", json=account_body(account=f"{n}2222"), headers=headers
            )
            assert response.status_code == 201
            created.append(response.json()["id"])

        responses = await asyncio.gather(
            *(
                live_client.put(f"/api/bank-accounts/{account_id}/set-primary", headers=headers)
                for account_id in created[1:]
            )
        )

        assert [response.status_code for response in responses] == [200, 200]
        assert await primary_count(partner.id) == 1
        listed = await live_client.get("/api/bank-accounts", headers=headers)
        primaries = [item["id"] for item in listed.json()["items"] if item["isPrimary"]]
        assert len(primaries) == 1
        assert primaries[0] in created[1:]


@pytest.mark.timeout(120)
async def test_race_set_primary_and_delete(
    live_client: httpx.AsyncClient, auth_headers: Headers
) -> None:
    # Deleting the old primary while another account is being promoted: either the delete
    # is refused (the old one is still primary) or it runs after the promotion.
    for _ in range(ROUNDS):
        partner = await committed_partner()
        headers = auth_headers(partner)
        first = await live_client.post(
            "/api/bank-accounts", json=account_body(account="13333"), headers=headers
        )
        second = await live_client.post(
            "/api/bank-accounts", json=account_body(account="23333"), headers=headers
        )
        first_id, second_id = first.json()["id"], second.json()["id"]

        promoted, deleted = await asyncio.gather(
            live_client.put(f"/api/bank-accounts/{second_id}/set-primary", headers=headers),
            live_client.delete(f"/api/bank-accounts/{first_id}", headers=headers),
        )

        assert promoted.status_code == 200
        assert deleted.status_code in (204, 409)
        assert await primary_count(partner.id) == 1


@pytest.mark.timeout(60)
async def test_primary_index_blocks_concurrent_transactions(
    live_client: httpx.AsyncClient, engine: AsyncEngine, auth_headers: Headers
) -> None:
    """The partial unique index alone, without the service's lock, rejects a second primary."""
    partner = await committed_partner()
    headers = auth_headers(partner)
    ids: list[Any] = []
    for n in range(1, 3):
        response = await live_client.post(
            "/api/bank-accounts", json=account_body(account=f"{n}4444"), headers=headers
        )
        ids.append(response.json()["id"])
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE bank_accounts SET is_primary = false WHERE user_id = :user_id"),
            {"user_id": partner.id},
        )

    promote = text("UPDATE bank_accounts SET is_primary = true WHERE id = :id")
    first = await engine.connect()
    second = await engine.connect()
    try:
        await first.begin()
        await first.execute(promote, {"id": ids[0]})
        await second.begin()
        # The second writer waits on the first one's uncommitted index entry.
        blocked = asyncio.create_task(second.execute(promote, {"id": ids[1]}))
        await asyncio.sleep(0.3)
        assert not blocked.done()
        await first.commit()
        with pytest.raises(IntegrityError) as caught:
            await blocked
        assert "uq_bank_accounts_one_primary" in str(caught.value)
    finally:
        await second.close()
        await first.close()

    assert await primary_count(partner.id) == 1

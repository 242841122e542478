"""Connect onboarding under concurrent first requests, with requests that really commit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from taskgo.auth.service import dev_issuer
from taskgo.payments.local import LocalPayments
from taskgo.payments.models import LocalPaymentObject, PaymentAccount
from taskgo.payments.providers import install_payments
from tests.conftest import MakeUser


@pytest.fixture
async def local_payments(engine: AsyncEngine) -> AsyncIterator[LocalPayments]:
    provider = LocalPayments()
    previous = install_payments(provider)
    yield provider
    install_payments(previous)
    await provider.aclose()


@pytest.mark.timeout(60)
async def test_concurrent_first_onboarding_one_account(
    live_client: httpx.AsyncClient,
    make_live_user: MakeUser,
    local_payments: LocalPayments,
    engine: AsyncEngine,
) -> None:
    partner = await make_live_user(role="partner", name="Bia Vendedora")
    issuer = dev_issuer()
    assert issuer is not None
    token = issuer.issue(uid=partner.firebase_uid, role=partner.role, name=partner.name)
    headers = {"Authorization": f"Bearer {token}"}

    responses = await asyncio.gather(
        *(live_client.post("/api/payments/connect/onboarding", headers=headers) for _ in range(8))
    )

    async with engine.begin() as connection:
        accounts = await connection.scalar(
            select(func.count())
            .select_from(PaymentAccount)
            .where(PaymentAccount.user_id == partner.id)
        )
        account_ids = {r.json()["accountId"] for r in responses if r.status_code == 200}
        await connection.execute(
            delete(LocalPaymentObject).where(LocalPaymentObject.id.in_(account_ids))
        )
    # Both inserted an account before, and the second failed on the primary key with a 500.
    assert [r.status_code for r in responses] == [200] * 8
    assert len(account_ids) == 1
    assert accounts == 1

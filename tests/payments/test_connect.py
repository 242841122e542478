"""Connect onboarding and the releases that wait for a seller's payout account."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.payments.connect import start_onboarding
from taskgo.payments.local import LocalPayments
from taskgo.payments.providers import install_payments
from taskgo.purchases.models import HoldReason, Purchase, PurchaseStatus
from taskgo.users.models import User
from tests.conftest import MakeUser


@pytest.fixture
async def local_payments(db: AsyncSession) -> AsyncIterator[LocalPayments]:
    provider = LocalPayments()
    previous = install_payments(provider)
    yield provider
    install_payments(previous)
    await provider.aclose()


async def _held_purchase(db: AsyncSession, *, buyer: User, seller: User) -> Purchase:
    purchase = Purchase(
        buyer_id=buyer.id,
        seller_id=seller.id,
        status=PurchaseStatus.DELIVERED.value,
        hold_reason=HoldReason.SELLER_PAYOUT_ACCOUNT.value,
        total_cents=10_000,
        platform_fee_cents=500,
        escrow_cents=9_500,
        fee_bps=500,
        payment_provider="local",
        transfer_group=f"purchase-{uuid.uuid4()}",
    )
    db.add(purchase)
    await db.flush()
    return purchase


async def _queued_releases(db: AsyncSession) -> list[str]:
    rows = await db.execute(
        text(
            "SELECT args->>'purchase_id' AS purchase_id FROM procrastinate_jobs "
            "WHERE task_name = 'purchases.release_one' AND status = 'todo'"
        )
    )
    return [row.purchase_id for row in rows]


@pytest.mark.usefixtures("local_payments")
async def test_first_onboarding_queues_held_releases(db: AsyncSession, make_user: MakeUser) -> None:
    seller = await make_user(role="partner", name="Carla Vendedora")
    buyer = await make_user(name="Ana Compradora")
    purchase = await _held_purchase(db, buyer=buyer, seller=seller)

    # The local simulator enables transfers on the new account at once.
    onboarding = await start_onboarding(db, partner=seller)

    assert onboarding.account.transfers_enabled is True
    assert str(purchase.id) in await _queued_releases(db)

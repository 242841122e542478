"""The stored ledger: duplicate keys post once, overdrafts post nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.payments import ledger, ledger_store
from taskgo.payments.ledger import LedgerError
from taskgo.payments.models import LedgerEntry
from taskgo.purchases.models import Purchase
from taskgo.users.models import User


@pytest.fixture
async def purchase(db: AsyncSession, make_user: Callable[..., Awaitable[User]]) -> Purchase:
    buyer = await make_user(role="client")
    seller = await make_user(role="partner")
    row = Purchase(
        buyer_id=buyer.id,
        seller_id=seller.id,
        status="paid",
        currency="brl",
        total_cents=10_000,
        platform_fee_cents=500,
        escrow_cents=9_500,
        fee_bps=500,
        payment_provider="stripe",
        transfer_group="purchase_test",
        captured_cents=0,
        refunded_cents=0,
    )
    db.add(row)
    await db.flush()
    return row


async def _entry_count(db: AsyncSession, purchase: Purchase) -> int:
    count = await db.scalar(
        select(func.count()).select_from(LedgerEntry).where(LedgerEntry.purchase_id == purchase.id)
    )
    return int(count or 0)


async def test_duplicate_key_posts_once(db: AsyncSession, purchase: Purchase) -> None:
    charge = ledger.charge(key="charge:ch_1", amount=10_000, external_ref="ch_1")

    await ledger_store.post(db, purchase_id=purchase.id, transactions=[charge])
    balances = await ledger_store.post(db, purchase_id=purchase.id, transactions=[charge])

    assert balances.captured == 10_000
    assert await _entry_count(db, purchase) == 2
    stored = await ledger_store.load_balances(db, purchase.id)
    assert stored.net == 0
    assert stored.escrow_held == 10_000


async def test_overdraft_posts_nothing(db: AsyncSession, purchase: Purchase) -> None:
    await ledger_store.post(
        db,
        purchase_id=purchase.id,
        transactions=[ledger.charge(key="charge:ch_1", amount=10_000)],
    )

    with pytest.raises(LedgerError):
        await ledger_store.post(
            db,
            purchase_id=purchase.id,
            transactions=[
                ledger.fee(key="fee:p", amount=500),
                ledger.transfer(key="transfer:tr_1", amount=9_501),
            ],
        )

    stored = await ledger_store.load_balances(db, purchase.id)
    assert stored.transferred == 0
    assert stored.fees == 0
    assert stored.net == 0

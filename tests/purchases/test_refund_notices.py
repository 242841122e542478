"""The notice of a purchase closed with the money back, with and without a capture."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.purchases import notify
from taskgo.purchases.models import Purchase, PurchaseStatus
from tests.conftest import MakeUser
from tests.purchases.conftest import notifications_of


@pytest.mark.parametrize(
    ("refunded_cents", "title"),
    [(0, "Pedido encerrado sem cobrança"), (10_000, "Reembolso de R$ 100,00")],
)
async def test_refunded_notice_names_what_happened(
    db: AsyncSession, make_user: MakeUser, refunded_cents: int, title: str
) -> None:
    buyer = await make_user(name="Ana Compradora")
    seller = await make_user(role="partner", name="Carla Vendedora")
    purchase = Purchase(
        buyer_id=buyer.id,
        seller_id=seller.id,
        status=PurchaseStatus.REFUNDED.value,
        total_cents=10_000,
        platform_fee_cents=500,
        escrow_cents=9_500,
        fee_bps=500,
        refunded_cents=refunded_cents,
        payment_provider="local",
        transfer_group=f"purchase-{uuid.uuid4()}",
    )
    db.add(purchase)
    await db.flush()

    await notify.refunded(db, purchase)

    # Only an authorization was released when nothing was captured: no "R$ 0,00" refund.
    for user in (buyer, seller):
        titles = [text for text, _ in await notifications_of(db, user)]
        assert titles == [title]

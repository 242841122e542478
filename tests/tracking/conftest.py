"""Fixtures shared by the tracking tests: the Correios stand-in and a client bound to it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.purchases.models import Purchase, PurchaseStatus
from taskgo.tracking.client import CorreiosClient, CorreiosCredentials
from taskgo.tracking.settings import (
    TrackingSettings,
    get_tracking_settings,
    reset_tracking_settings,
)
from taskgo.users.models import User
from tests.standins.correios import CorreiosStandin


@pytest.fixture
def correios() -> Iterator[CorreiosStandin]:
    standin = CorreiosStandin()
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture
def correios_credentials(correios: CorreiosStandin) -> CorreiosCredentials:
    return CorreiosCredentials(
        user=correios.user, access_code=correios.access_code, postal_card=correios.postal_card
    )


@pytest.fixture
async def correios_client(
    correios: CorreiosStandin, correios_credentials: CorreiosCredentials
) -> AsyncIterator[CorreiosClient]:
    client = CorreiosClient(base_url=correios.base_url, credentials=correios_credentials)
    try:
        yield client
    finally:
        await client.aclose()


# --- purchases for the database tests ---

MakeShipped = Callable[..., Awaitable[Purchase]]


@pytest.fixture
def make_purchase(db: AsyncSession, make_user: Any) -> MakeShipped:
    """Insert a purchase row: `await make_purchase(status="shipped", tracking_code=...)`.

    The row is written directly because the checkout path needs products and payments,
    which these tests do not exercise. Buyer and seller are created unless given.
    """

    async def create(
        *,
        status: str = PurchaseStatus.SHIPPED,
        tracking_code: str | None = "RA123456785BR",
        buyer: User | None = None,
        seller: User | None = None,
        shipped_at: datetime | None = None,
    ) -> Purchase:
        buyer = buyer or await make_user(role="client", name="Bia Compradora")
        seller = seller or await make_user(role="partner", name="Caio Vendedor")
        shipped = status != PurchaseStatus.PAID
        purchase = Purchase(
            buyer_id=buyer.id,
            seller_id=seller.id,
            status=status,
            total_cents=10_000,
            platform_fee_cents=500,
            escrow_cents=9_500,
            fee_bps=500,
            payment_provider="local",
            transfer_group=f"group-{uuid.uuid4().hex[:12]}",
            paid_at=datetime.now(UTC) - timedelta(days=3),
            shipped_at=(shipped_at or datetime.now(UTC) - timedelta(days=2)) if shipped else None,
            tracking_code=tracking_code if shipped else None,
            hold_reason="awaiting_delivery" if shipped else "awaiting_shipment",
        )
        db.add(purchase)
        await db.flush()
        return purchase

    return create


@pytest.fixture
def manual_provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TRACKING_PROVIDER", "manual")
    reset_tracking_settings()
    yield
    reset_tracking_settings()


@pytest.fixture
def correios_provider(
    monkeypatch: pytest.MonkeyPatch, correios: CorreiosStandin
) -> Iterator[TrackingSettings]:
    """Environment of a Correios deployment pointed at the stand-in."""
    monkeypatch.setenv("TRACKING_PROVIDER", "correios")
    monkeypatch.setenv("CORREIOS_BASE_URL", correios.base_url)
    monkeypatch.setenv("CORREIOS_USER", correios.user)
    monkeypatch.setenv("CORREIOS_ACCESS_CODE", correios.access_code)
    monkeypatch.setenv("CORREIOS_POSTAL_CARD", correios.postal_card)
    monkeypatch.setenv("TRACKING_REQUESTS_PER_SECOND", "50")
    monkeypatch.setenv("TRACKING_BACKOFF_BASE_SECONDS", "0")
    reset_tracking_settings()
    yield get_tracking_settings()
    reset_tracking_settings()

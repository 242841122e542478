"""Tracking pushes and in-app notifications in each reader's language."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.notifications.models import Notification
from taskgo.notifications.texts import render_all
from taskgo.tracking.client import CorreiosClient, CorreiosCredentials
from taskgo.tracking.effects import push_text, status_label_key
from taskgo.tracking.models import TrackingEvent, TrackingShipment
from taskgo.tracking.polling import run_poll
from taskgo.tracking.settings import TrackingSettings
from tests.standins.correios import CorreiosStandin, StandinEvent
from tests.tracking.conftest import MakeShipped

CODE = "RA123456785BR"
OUT_FOR_DELIVERY = "Objeto saiu para entrega ao destinatário"


def _recent_local(hours_ago: float) -> datetime:
    """A Brasília wall-clock time some hours ago, as SRO prints it."""
    brasilia = datetime.now(UTC) - timedelta(hours=3 + hours_ago)
    return brasilia.replace(tzinfo=None, microsecond=0)


async def _pushes_by_user(db: AsyncSession) -> dict[uuid.UUID, Notification]:
    rows = (
        await db.scalars(select(Notification).where(Notification.kind == "tracking_update"))
    ).all()
    return {row.user_id: row for row in rows}


def _event(
    *,
    carrier_code: str | None,
    status: str,
    description: str,
    location: str | None = None,
) -> TrackingEvent:
    return TrackingEvent(
        purchase_id=uuid.uuid4(),
        tracking_code=CODE,
        event_key=f"{carrier_code}@20260304T174030Z",
        status=status,
        carrier_code=carrier_code,
        description=description,
        location=location,
        occurred_at=datetime(2026, 3, 4, 17, 40, 30, tzinfo=UTC),
        source="correios" if carrier_code else "manual",
    )


def _shipment() -> TrackingShipment:
    return TrackingShipment(purchase_id=uuid.uuid4(), tracking_code=CODE, provider="correios")


@pytest.fixture
async def standin_client(
    correios: CorreiosStandin, correios_credentials: CorreiosCredentials
) -> Any:
    async with CorreiosClient(
        base_url=correios.base_url, credentials=correios_credentials
    ) as client:
        yield client


async def test_correios_push_in_each_language(
    db: AsyncSession,
    correios: CorreiosStandin,
    correios_provider: TrackingSettings,
    standin_client: CorreiosClient,
    make_purchase: MakeShipped,
    make_user: Any,
) -> None:
    buyer = await make_user(role="client", name="Beth Buyer", locale="en")
    seller = await make_user(role="partner", name="Caio Vendedor", locale="pt_BR")
    await make_purchase(tracking_code=CODE, buyer=buyer, seller=seller)
    correios.add_events(
        CODE,
        StandinEvent("OEC", "01", OUT_FOR_DELIVERY, _recent_local(2), "CASCAVEL", "PR"),
    )

    await run_poll(correios_provider, client=standin_client)

    pushes = await _pushes_by_user(db)
    english, portuguese = pushes[buyer.id], pushes[seller.id]
    assert english.title == "Order out for delivery"
    assert english.body == f"{CODE}: Out for delivery (CASCAVEL - PR)"
    assert portuguese.title == "Pedido saiu para entrega"
    assert portuguese.body == f"{CODE}: Saiu para entrega (CASCAVEL - PR)"
    for row in (english, portuguese):
        assert row.data["description"] == OUT_FOR_DELIVERY
        assert row.data["status"] == "out_for_delivery"


async def test_failed_delivery_push_in_english(
    db: AsyncSession,
    correios: CorreiosStandin,
    correios_provider: TrackingSettings,
    standin_client: CorreiosClient,
    make_purchase: MakeShipped,
    make_user: Any,
) -> None:
    buyer = await make_user(role="client", name="Beth Buyer", locale="en")
    await make_purchase(tracking_code=CODE, buyer=buyer)
    description = "Carteiro não atendido - entrega não realizada"
    correios.add_events(CODE, StandinEvent("BDE", "03", description, _recent_local(1)))

    await run_poll(correios_provider, client=standin_client)

    english = (await _pushes_by_user(db))[buyer.id]
    assert english.title == "Delivery attempt failed"
    assert english.body == f"{CODE}: Delivery attempt failed (SAO PAULO - SP)"
    assert english.data["description"] == description


async def test_manual_push_in_each_language(
    client: httpx.AsyncClient,
    db: AsyncSession,
    manual_provider: None,
    make_purchase: MakeShipped,
    make_user: Any,
    auth_headers: Callable[..., dict[str, str]],
) -> None:
    buyer = await make_user(role="client", name="Beth Buyer", locale="en")
    seller = await make_user(role="partner", name="Caio Vendedor")
    purchase = await make_purchase(buyer=buyer, seller=seller)

    response = await client.post(
        f"/api/purchases/{purchase.id}/tracking/events",
        json={"status": "awaiting_pickup", "description": "Retirar na agência do centro"},
        headers=auth_headers(seller),
    )

    assert response.status_code == 201
    pushes = await _pushes_by_user(db)
    assert pushes[buyer.id].title == "Order awaiting pickup"
    assert pushes[buyer.id].body == f"{CODE}: Awaiting pickup"
    assert pushes[seller.id].title == "Pedido aguardando retirada"
    assert pushes[seller.id].body == f"{CODE}: Aguardando retirada"
    assert pushes[buyer.id].data["description"] == "Retirar na agência do centro"


@pytest.mark.parametrize(
    ("carrier_code", "status", "expected"),
    [
        ("BDE-01", "delivered", "tracking.status.delivered"),
        ("OEC-09", "returning", "tracking.status.returning"),
        ("BDI-02", "awaiting_pickup", "tracking.status.awaiting_pickup"),
        (None, "exception", "tracking.status.exception"),
        ("ZZZ-07", "in_transit", None),
        ("BDE-99", "in_transit", None),
        ("BDE---", "in_transit", None),
    ],
)
def test_status_label_key(carrier_code: str | None, status: str, expected: str | None) -> None:
    event = _event(carrier_code=carrier_code, status=status, description="Texto dos Correios")

    assert status_label_key(event) == expected


def test_unmapped_event_falls_back_to_description() -> None:
    event = _event(
        carrier_code="ZZZ-07",
        status="in_transit",
        description="Objeto em análise na unidade",
        location="CURITIBA - PR",
    )

    text = push_text(_shipment(), event)
    rendered = render_all(title_key=text.title_key, body_key=text.body_key, params=text.params)

    assert rendered["en"].title == "Order in transit"
    assert rendered["en"].body == f"{CODE}: Objeto em análise na unidade (CURITIBA - PR)"
    assert rendered["pt_BR"].body == f"{CODE}: Objeto em análise na unidade (CURITIBA - PR)"
    assert text.data["description"] == "Objeto em análise na unidade"


def test_unmapped_event_without_description_shows_status() -> None:
    event = _event(carrier_code="ZZZ-07", status="in_transit", description="")

    text = push_text(_shipment(), event)
    rendered = render_all(title_key=text.title_key, body_key=text.body_key, params=text.params)

    assert rendered["en"].body == f"{CODE}: In transit"
    assert rendered["pt_BR"].body == f"{CODE}: Em trânsito"


def test_mapped_event_body_has_no_description() -> None:
    event = _event(carrier_code="BLQ-01", status="exception", description="Objeto bloqueado")

    text = push_text(_shipment(), event)
    rendered = render_all(title_key=text.title_key, body_key=text.body_key, params=text.params)

    assert rendered["en"].title == "Problem with the order's shipment"
    assert rendered["en"].body == f"{CODE}: Shipping problem"
    assert rendered["pt_BR"].body == f"{CODE}: Problema no envio"


def test_long_description_cut_in_data() -> None:
    event = _event(carrier_code="BDE-01", status="delivered", description="x" * 2000)

    text = push_text(_shipment(), event)

    assert text.data["description"] == "x" * 500


async def test_manual_push_with_escaped_characters_fits_fcm(
    client: httpx.AsyncClient,
    db: AsyncSession,
    manual_provider: None,
    make_purchase: MakeShipped,
    make_user: Any,
    auth_headers: Callable[..., dict[str, str]],
) -> None:
    # Each control character takes six bytes in the JSON that FCM measures ("\u0001"),
    # so the longest description and location the API accepts would pass 4 KB.
    buyer = await make_user(role="client", name="Beth Buyer", locale="en")
    seller = await make_user(role="partner", name="Caio Vendedor")
    purchase = await make_purchase(buyer=buyer, seller=seller)

    response = await client.post(
        f"/api/purchases/{purchase.id}/tracking/events",
        json={"status": "exception", "description": "\u0001" * 500, "location": "\u0002" * 200},
        headers=auth_headers(seller),
    )

    assert response.status_code == 201, response.text
    pushes = await _pushes_by_user(db)
    assert set(pushes) == {buyer.id, seller.id}


@pytest.mark.parametrize("character", ["x", "é", "\u4e2d", "\U0001f4e6", "\u0001", '"'])
@pytest.mark.parametrize(
    ("carrier_code", "status"),
    [("BDE-01", "delivered"), ("ZZZ-07", "in_transit"), (None, "exception")],
)
def test_push_payload_fits_fcm(carrier_code: str | None, status: str, character: str) -> None:
    from taskgo.notifications.push import PushMessage, build_fcm_message, shorten_body
    from taskgo.notifications.service import push_data

    event = _event(
        carrier_code=carrier_code,
        status=status,
        description=character * 4000,
        location=character * 200,
    )

    text = push_text(_shipment(), event)
    rendered = render_all(title_key=text.title_key, body_key=text.body_key, params=text.params)

    data = push_data(notification_id=uuid.uuid4(), kind="tracking_update", data=text.data)
    for locale in ("en", "pt_BR"):
        message = PushMessage(
            key="k",
            token="t" * 300,
            title=rendered[locale].title,
            body=shorten_body(rendered[locale].body),
            data=data,
        )
        build_fcm_message(message)
    assert text.data["description"].startswith(character)


@pytest.mark.parametrize("carrier_code", [None, "ZZZ-07"])
def test_blank_location_and_description_left_out(carrier_code: str | None) -> None:
    event = _event(carrier_code=carrier_code, status="in_transit", description="  ", location="  ")

    text = push_text(_shipment(), event)
    rendered = render_all(title_key=text.title_key, body_key=text.body_key, params=text.params)

    assert rendered["en"].body == f"{CODE}: In transit"
    assert rendered["pt_BR"].body == f"{CODE}: Em trânsito"

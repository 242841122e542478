"""Tracking routes with the manual provider: timeline, typed events and demo steps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.admin.models import AuditLog
from taskgo.notifications.models import Notification
from taskgo.purchases.models import Purchase, PurchaseStatus
from taskgo.tracking.models import TrackingEvent, TrackingShipment
from taskgo.users.models import User
from tests.tracking.conftest import MakeShipped

pytestmark = pytest.mark.usefixtures("manual_provider")

Headers = Callable[..., dict[str, str]]


def _url(purchase: Purchase, suffix: str = "") -> str:
    return f"/api/purchases/{purchase.id}/tracking{suffix}"


async def _users(db: AsyncSession, purchase: Purchase) -> tuple[User, User]:
    buyer = await db.get(User, purchase.buyer_id)
    seller = await db.get(User, purchase.seller_id)
    assert buyer is not None and seller is not None
    return buyer, seller


async def _event_count(db: AsyncSession, purchase: Purchase) -> int:
    count = await db.scalar(
        select(func.count())
        .select_from(TrackingEvent)
        .where(TrackingEvent.purchase_id == purchase.id)
    )
    return int(count or 0)


async def test_timeline_before_any_event(
    client: httpx.AsyncClient, db: AsyncSession, make_purchase: MakeShipped, auth_headers: Headers
) -> None:
    purchase = await make_purchase()
    buyer, seller = await _users(db, purchase)

    for user in (buyer, seller):
        response = await client.get(_url(purchase), headers=auth_headers(user))
        assert response.status_code == 200
        assert response.json() == {
            "trackingCode": "RA123456785BR",
            "status": "pending",
            "events": [],
        }


async def test_timeline_of_unshipped_purchase(
    client: httpx.AsyncClient, db: AsyncSession, make_purchase: MakeShipped, auth_headers: Headers
) -> None:
    purchase = await make_purchase(status=PurchaseStatus.PAID)
    buyer, _ = await _users(db, purchase)

    response = await client.get(_url(purchase), headers=auth_headers(buyer))

    assert response.status_code == 200
    assert response.json() == {"trackingCode": None, "status": "not_shipped", "events": []}


async def test_timeline_hidden_from_strangers(
    client: httpx.AsyncClient,
    make_purchase: MakeShipped,
    make_user: Any,
    auth_headers: Headers,
) -> None:
    purchase = await make_purchase()
    stranger = await make_user(role="client")
    admin = await make_user(role="admin")

    for user in (stranger, admin):
        response = await client.get(_url(purchase), headers=auth_headers(user))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "purchase.not_found"

    anonymous = await client.get(_url(purchase))
    assert anonymous.status_code == 401


async def test_seller_adds_event(
    client: httpx.AsyncClient, db: AsyncSession, make_purchase: MakeShipped, auth_headers: Headers
) -> None:
    purchase = await make_purchase()
    buyer, seller = await _users(db, purchase)
    occurred = datetime.now(UTC) - timedelta(hours=1)

    response = await client.post(
        _url(purchase, "/events"),
        json={
            "status": "in_transit",
            "description": "Saiu do centro de distribuição",
            "location": "CURITIBA - PR",
            "occurredAt": occurred.isoformat(),
        },
        headers=auth_headers(seller),
    )

    assert response.status_code == 201
    body = response.json()
    assert body["trackingCode"] == "RA123456785BR"
    assert body["status"] == "in_transit"
    assert len(body["events"]) == 1
    event = body["events"][0]
    assert event["status"] == "in_transit"
    assert event["statusLabel"] == "Em trânsito"
    assert event["description"] == "Saiu do centro de distribuição"
    assert event["location"] == "CURITIBA - PR"
    assert event["source"] == "manual"
    assert datetime.fromisoformat(event["occurredAt"]) == occurred

    seen_by_buyer = await client.get(
        _url(purchase), headers=auth_headers(buyer, **{"Accept-Language": "en"})
    )
    assert seen_by_buyer.json()["events"][0]["statusLabel"] == "In transit"
    # In transit is not a major step: no push.
    pushes = await db.scalar(
        select(func.count()).select_from(Notification).where(Notification.kind == "tracking_update")
    )
    assert pushes == 0


async def test_major_event_pushes_both_sides(
    client: httpx.AsyncClient, db: AsyncSession, make_purchase: MakeShipped, auth_headers: Headers
) -> None:
    purchase = await make_purchase()
    buyer, seller = await _users(db, purchase)

    response = await client.post(
        _url(purchase, "/events"),
        json={"status": "out_for_delivery"},
        headers=auth_headers(seller),
    )

    assert response.status_code == 201
    assert response.json()["events"][0]["description"] == "Saiu para entrega"
    rows = (
        await db.scalars(select(Notification).where(Notification.kind == "tracking_update"))
    ).all()
    assert sorted(row.user_id for row in rows) == sorted([buyer.id, seller.id])
    assert all(row.title == "Pedido saiu para entrega" for row in rows)
    assert all(row.body == "RA123456785BR: Saiu para entrega" for row in rows)
    assert all(row.data["purchaseId"] == str(purchase.id) for row in rows)


async def test_buyer_cannot_add_events(
    client: httpx.AsyncClient, db: AsyncSession, make_purchase: MakeShipped, auth_headers: Headers
) -> None:
    purchase = await make_purchase()
    buyer, _ = await _users(db, purchase)

    response = await client.post(
        _url(purchase, "/events"), json={"status": "delivered"}, headers=auth_headers(buyer)
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "tracking.forbidden"
    assert await _event_count(db, purchase) == 0
    await db.refresh(purchase)
    assert purchase.status == PurchaseStatus.SHIPPED


async def test_admin_event_is_audited(
    client: httpx.AsyncClient,
    db: AsyncSession,
    make_purchase: MakeShipped,
    make_user: Any,
    auth_headers: Headers,
) -> None:
    purchase = await make_purchase()
    admin = await make_user(role="admin", name="Ana Admin")

    response = await client.post(
        _url(purchase, "/events"),
        json={"status": "exception", "description": "Embalagem avariada"},
        headers=auth_headers(admin),
    )

    assert response.status_code == 201
    audit = (
        await db.scalars(select(AuditLog).where(AuditLog.action == "tracking.event_added"))
    ).one()
    assert audit.actor_id == admin.id
    assert audit.target_id == str(purchase.id)
    assert audit.details["status"] == "exception"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"status": "teleported"}, "validation.enum", "status"),
        ({}, "validation.missing", "status"),
        ({"status": "posted", "location": "x" * 201}, "validation.string_too_long", "location"),
        (
            {"status": "posted", "description": "x" * 501},
            "validation.string_too_long",
            "description",
        ),
        (
            {"status": "posted", "occurredAt": "2020-01-01T10:00:00"},
            "tracking.event_time_without_offset",
            "occurredAt",
        ),
        (
            {"status": "posted", "occurredAt": "2999-01-01T10:00:00Z"},
            "tracking.event_in_future",
            "occurredAt",
        ),
        (
            {"status": "posted", "occurredAt": "2020-01-01T10:00:00Z"},
            "tracking.event_too_old",
            "occurredAt",
        ),
    ],
)
async def test_invalid_event_rejected(
    client: httpx.AsyncClient,
    db: AsyncSession,
    make_purchase: MakeShipped,
    auth_headers: Headers,
    body: dict[str, Any],
    code: str,
    field: str,
) -> None:
    purchase = await make_purchase()
    _, seller = await _users(db, purchase)

    response = await client.post(_url(purchase, "/events"), json=body, headers=auth_headers(seller))

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == code
    assert error["details"]["field"] == field
    assert error["message"]
    assert await _event_count(db, purchase) == 0


async def test_error_message_follows_language(
    client: httpx.AsyncClient, db: AsyncSession, make_purchase: MakeShipped, auth_headers: Headers
) -> None:
    purchase = await make_purchase()
    _, seller = await _users(db, purchase)
    body = {"status": "posted", "occurredAt": "2999-01-01T10:00:00Z"}

    portuguese = await client.post(
        _url(purchase, "/events"), json=body, headers=auth_headers(seller)
    )
    english = await client.post(
        _url(purchase, "/events"),
        json=body,
        headers=auth_headers(seller, **{"Accept-Language": "en-US"}),
    )

    assert portuguese.json()["error"]["message"] == "A data do evento não pode estar no futuro."
    assert english.json()["error"]["message"] == "The event time cannot be in the future."


async def test_unshipped_purchase_rejects_events(
    client: httpx.AsyncClient, db: AsyncSession, make_purchase: MakeShipped, auth_headers: Headers
) -> None:
    purchase = await make_purchase(status=PurchaseStatus.PAID)
    _, seller = await _users(db, purchase)

    response = await client.post(
        _url(purchase, "/events"), json={"status": "posted"}, headers=auth_headers(seller)
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "tracking.not_shipped"


async def test_events_after_buyer_confirmation_rejected(
    client: httpx.AsyncClient, db: AsyncSession, make_purchase: MakeShipped, auth_headers: Headers
) -> None:
    purchase = await make_purchase()
    _, seller = await _users(db, purchase)
    purchase.buyer_confirmed_at = datetime.now(UTC)
    await db.flush()

    response = await client.post(
        _url(purchase, "/events"),
        json={"status": "returned"},
        headers=auth_headers(seller, **{"Accept-Language": "en"}),
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "tracking.delivery_confirmed"
    assert "confirmed receipt" in response.json()["error"]["message"]
    assert await _event_count(db, purchase) == 0


async def test_demo_advances_to_delivery(
    client: httpx.AsyncClient, db: AsyncSession, make_purchase: MakeShipped, auth_headers: Headers
) -> None:
    purchase = await make_purchase()
    _, seller = await _users(db, purchase)
    headers = auth_headers(seller)

    statuses = []
    for _ in range(4):
        response = await client.post(_url(purchase, "/advance"), headers=headers)
        assert response.status_code == 200
        statuses.append(response.json()["status"])

    assert statuses == ["posted", "in_transit", "out_for_delivery", "delivered"]
    timeline = (await client.get(_url(purchase), headers=headers)).json()
    assert [event["status"] for event in timeline["events"]] == statuses
    assert timeline["events"][-1]["description"] == "Objeto entregue ao destinatário"

    await db.refresh(purchase)
    assert purchase.status == PurchaseStatus.DELIVERED
    assert purchase.carrier_delivered_at is not None
    assert purchase.release_at is not None
    shipment = (
        await db.scalars(
            select(TrackingShipment).where(TrackingShipment.purchase_id == purchase.id)
        )
    ).one()
    assert shipment.finished_at is not None

    finished = await client.post(_url(purchase, "/advance"), headers=headers)
    assert finished.status_code == 409
    assert finished.json()["error"]["code"] == "tracking.shipment_finished"
    assert "Entregue" in finished.json()["error"]["message"]


async def test_idempotency_key_replays_event(
    client: httpx.AsyncClient, db: AsyncSession, make_purchase: MakeShipped, auth_headers: Headers
) -> None:
    purchase = await make_purchase()
    _, seller = await _users(db, purchase)
    headers = auth_headers(seller, **{"Idempotency-Key": "evt-1"})
    body = {"status": "posted", "description": "Postado na agência"}

    first = await client.post(_url(purchase, "/events"), json=body, headers=headers)
    second = await client.post(_url(purchase, "/events"), json=body, headers=headers)

    assert first.status_code == 201
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert await _event_count(db, purchase) == 1


async def test_late_event_keeps_status(
    client: httpx.AsyncClient, db: AsyncSession, make_purchase: MakeShipped, auth_headers: Headers
) -> None:
    purchase = await make_purchase()
    _, seller = await _users(db, purchase)
    headers = auth_headers(seller)
    now = datetime.now(UTC)
    await client.post(
        _url(purchase, "/events"),
        json={"status": "out_for_delivery", "occurredAt": (now - timedelta(minutes=5)).isoformat()},
        headers=headers,
    )

    # An older step typed afterwards joins the timeline but does not move the status back.
    response = await client.post(
        _url(purchase, "/events"),
        json={"status": "posted", "occurredAt": (now - timedelta(hours=20)).isoformat()},
        headers=headers,
    )

    body = response.json()
    assert body["status"] == "out_for_delivery"
    assert [event["status"] for event in body["events"]] == ["posted", "out_for_delivery"]


async def test_seller_blocked_in_correios_mode(
    client: httpx.AsyncClient,
    db: AsyncSession,
    make_purchase: MakeShipped,
    make_user: Any,
    auth_headers: Headers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from taskgo.tracking.settings import reset_tracking_settings

    monkeypatch.setenv("TRACKING_PROVIDER", "correios")
    monkeypatch.setenv("CORREIOS_USER", "taskgo")
    monkeypatch.setenv("CORREIOS_ACCESS_CODE", "code")
    monkeypatch.setenv("CORREIOS_POSTAL_CARD", "0067599079")
    reset_tracking_settings()
    purchase = await make_purchase()
    _, seller = await _users(db, purchase)
    admin = await make_user(role="admin")

    seller_response = await client.post(_url(purchase, "/advance"), headers=auth_headers(seller))
    admin_response = await client.post(_url(purchase, "/advance"), headers=auth_headers(admin))

    assert seller_response.status_code == 409
    assert seller_response.json()["error"]["code"] == "tracking.manual_events_disabled"
    assert admin_response.status_code == 200
    assert admin_response.json()["status"] == "posted"

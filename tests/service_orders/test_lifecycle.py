"""Accept, start, complete, cancel and expire, with who may do each and what they see."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from taskgo.jobs.inline import run_queued_jobs
from taskgo.notifications.models import Notification
from taskgo.service_orders.lifecycle import do_cancel, expire_due_orders
from taskgo.service_orders.models import ServiceOrder
from taskgo.users.models import User
from tests.conftest import MakeUser
from tests.service_orders.conftest import FOZ, AuthHeaders, MakePartner

PostOrder = Callable[..., Any]


@pytest.fixture
async def customer(make_user: MakeUser) -> User:
    return await make_user(role="client", name="Carla Cliente")


@pytest.fixture
async def painter(make_partner: MakePartner) -> User:
    return await make_partner(name="Paulo Pintor")


@pytest.fixture
async def order_id(db: AsyncSession, customer: User, painter: User, post_order: PostOrder) -> str:
    response = await post_order(customer)
    assert response.status_code == 201
    await run_queued_jobs(db)
    return str(response.json()["id"])


async def act(
    client: httpx.AsyncClient,
    headers: AuthHeaders,
    user: User,
    order_id: str,
    action: str,
    **body: Any,
) -> httpx.Response:
    return await client.post(
        f"/api/service-orders/{order_id}/{action}", json=body or None, headers=headers(user)
    )


async def kinds_for(db: AsyncSession, user: User) -> list[str]:
    rows = await db.scalars(
        select(Notification.kind)
        .where(Notification.user_id == user.id)
        .order_by(Notification.created_at, Notification.kind)
    )
    return list(rows.all())


async def test_full_lifecycle(
    client: httpx.AsyncClient,
    db: AsyncSession,
    auth_headers: AuthHeaders,
    customer: User,
    painter: User,
    order_id: str,
) -> None:
    accepted = await act(client, auth_headers, painter, order_id, "accept")
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["partnerId"] == str(painter.id)
    assert accepted.json()["acceptedAt"] is not None

    started = await act(client, auth_headers, painter, order_id, "start")
    assert started.json()["status"] == "in_progress"

    completed = await act(client, auth_headers, painter, order_id, "complete")
    assert completed.json()["status"] == "completed"
    assert completed.json()["completedAt"] is not None

    assert await kinds_for(db, customer) == ["order_accepted", "order_started", "order_completed"]
    messages = await db.scalars(
        select(Notification.body).where(
            Notification.user_id == customer.id, Notification.kind == "order_accepted"
        )
    )
    assert list(messages) == ["Paulo Pintor aceitou sua ordem de Pintura."]


async def test_second_accept_is_409(
    client: httpx.AsyncClient,
    db: AsyncSession,
    auth_headers: AuthHeaders,
    make_partner: MakePartner,
    painter: User,
    order_id: str,
) -> None:
    rival = await make_partner(name="Rita Rival")
    await act(client, auth_headers, painter, order_id, "accept")

    response = await act(client, auth_headers, rival, order_id, "accept")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "service_order.already_taken"
    assert response.json()["error"]["message"] == "Esta ordem já foi aceita por outro parceiro."
    order = await db.get(ServiceOrder, uuid.UUID(order_id))
    assert order is not None
    await db.refresh(order)
    assert order.partner_id == painter.id


async def test_retried_accept_returns_order(
    client: httpx.AsyncClient,
    db: AsyncSession,
    auth_headers: AuthHeaders,
    customer: User,
    painter: User,
    order_id: str,
) -> None:
    first = await act(client, auth_headers, painter, order_id, "accept")

    retried = await act(client, auth_headers, painter, order_id, "accept")

    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "accepted"
    assert retried.json()["acceptedAt"] == first.json()["acceptedAt"]
    assert await kinds_for(db, customer) == ["order_accepted"]


@pytest.mark.parametrize(
    ("partner_fields", "status", "code"),
    [
        ({"verified": False}, 403, "service_order.partner_not_verified"),
        ({"categories": ["eletrica"], "city": FOZ}, 404, "service_order.not_found"),
        ({"categories": ["eletrica"]}, 404, "service_order.not_found"),
    ],
)
async def test_accept_checks_partner(
    client: httpx.AsyncClient,
    db: AsyncSession,
    auth_headers: AuthHeaders,
    make_partner: MakePartner,
    order_id: str,
    partner_fields: dict[str, Any],
    status: int,
    code: str,
) -> None:
    outsider = await make_partner(name="Outro", **partner_fields)

    response = await act(client, auth_headers, outsider, order_id, "accept")

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    order = await db.get(ServiceOrder, uuid.UUID(order_id))
    assert order is not None
    assert order.status == "open"


async def test_dispatched_partner_who_left(
    client: httpx.AsyncClient,
    db: AsyncSession,
    auth_headers: AuthHeaders,
    painter: User,
    order_id: str,
) -> None:
    await db.execute(update(User).where(User.id == painter.id).values(current_city_id=FOZ))

    response = await act(client, auth_headers, painter, order_id, "accept")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "service_order.outside_city"


async def test_only_assigned_partner_starts(
    client: httpx.AsyncClient,
    auth_headers: AuthHeaders,
    make_partner: MakePartner,
    painter: User,
    order_id: str,
) -> None:
    rival = await make_partner(name="Rita Rival")
    await act(client, auth_headers, painter, order_id, "accept")

    response = await act(client, auth_headers, rival, order_id, "start")

    assert response.status_code == 404


async def test_complete_before_start_is_409(
    client: httpx.AsyncClient, auth_headers: AuthHeaders, painter: User, order_id: str
) -> None:
    await act(client, auth_headers, painter, order_id, "accept")

    response = await act(client, auth_headers, painter, order_id, "complete")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "service_order.invalid_status"
    # The status is named in Portuguese too, not as the API's `accepted`.
    assert response.json()["error"]["message"] == (
        "Esta ação não é permitida para uma ordem aceita."
    )


async def test_cancel_open_order(
    client: httpx.AsyncClient,
    db: AsyncSession,
    auth_headers: AuthHeaders,
    customer: User,
    painter: User,
    order_id: str,
) -> None:
    response = await act(
        client, auth_headers, customer, order_id, "cancel", reason="Mudei de ideia"
    )

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancelReason"] == "Mudei de ideia"
    assert await kinds_for(db, painter) == ["order_created"]
    late = await act(client, auth_headers, painter, order_id, "accept")
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "service_order.invalid_status"


async def test_cancel_accepted_tells_partner(
    client: httpx.AsyncClient,
    db: AsyncSession,
    auth_headers: AuthHeaders,
    customer: User,
    painter: User,
    order_id: str,
) -> None:
    await act(client, auth_headers, painter, order_id, "accept")

    response = await act(client, auth_headers, customer, order_id, "cancel")

    assert response.status_code == 200
    assert await kinds_for(db, painter) == ["order_created", "order_cancelled"]
    bodies = await db.scalars(
        select(Notification.body).where(
            Notification.user_id == painter.id, Notification.kind == "order_cancelled"
        )
    )
    assert list(bodies) == ["O cliente cancelou a ordem de Pintura em Cascavel."]


async def test_cancel_racing_accept_notifies_partner(
    client: httpx.AsyncClient,
    db: AsyncSession,
    auth_headers: AuthHeaders,
    customer: User,
    painter: User,
    order_id: str,
) -> None:
    order = await db.get(ServiceOrder, uuid.UUID(order_id))
    assert order is not None
    await act(client, auth_headers, painter, order_id, "accept")
    # The client's request loaded the order while it was still open.
    set_committed_value(order, "status", "open")
    set_committed_value(order, "partner_id", None)

    await do_cancel(db, order=order, reason=None)

    assert order.status == "cancelled"
    assert await kinds_for(db, painter) == ["order_created", "order_cancelled"]


async def test_cannot_cancel_completed(
    client: httpx.AsyncClient,
    auth_headers: AuthHeaders,
    customer: User,
    painter: User,
    order_id: str,
) -> None:
    for action in ("accept", "start", "complete"):
        await act(client, auth_headers, painter, order_id, action)

    response = await act(client, auth_headers, customer, order_id, "cancel")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "service_order.invalid_status"


async def test_other_client_cannot_cancel(
    client: httpx.AsyncClient, auth_headers: AuthHeaders, make_user: MakeUser, order_id: str
) -> None:
    stranger = await make_user(role="client", name="Estranho")

    response = await act(client, auth_headers, stranger, order_id, "cancel")

    assert response.status_code == 404


async def test_expiry_job(db: AsyncSession, customer: User, painter: User, order_id: str) -> None:
    await db.execute(
        update(ServiceOrder)
        .where(ServiceOrder.id == uuid.UUID(order_id))
        .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
    )

    expired = await expire_due_orders(db)
    again = await expire_due_orders(db)

    assert expired == [uuid.UUID(order_id)]
    assert again == []
    order = await db.get(ServiceOrder, uuid.UUID(order_id))
    assert order is not None
    await db.refresh(order)
    assert order.status == "expired"
    assert order.expired_at is not None
    assert await kinds_for(db, customer) == ["order_expired"]


async def test_unexpired_order_stays_open(db: AsyncSession, order_id: str) -> None:
    assert await expire_due_orders(db) == []


async def test_lists_by_role(
    client: httpx.AsyncClient,
    auth_headers: AuthHeaders,
    make_partner: MakePartner,
    customer: User,
    painter: User,
    order_id: str,
    post_order: PostOrder,
) -> None:
    foz_painter = await make_partner(name="Foz", city=FOZ)
    second = (await post_order(customer, description="Pintar o portão de ferro")).json()["id"]
    await act(client, auth_headers, painter, order_id, "accept")

    mine = await client.get("/api/service-orders", headers=auth_headers(customer))
    available = await client.get("/api/service-orders", headers=auth_headers(painter))
    assigned = await client.get(
        "/api/service-orders", params={"role": "assigned"}, headers=auth_headers(painter)
    )
    far = await client.get("/api/service-orders", headers=auth_headers(foz_painter))
    open_mine = await client.get(
        "/api/service-orders", params={"status": "open"}, headers=auth_headers(customer)
    )

    assert [item["id"] for item in mine.json()["items"]] == [second, order_id]
    assert [item["id"] for item in available.json()["items"]] == [second]
    assert [item["id"] for item in assigned.json()["items"]] == [order_id]
    assert far.json()["items"] == []
    assert [item["id"] for item in open_mine.json()["items"]] == [second]


async def test_list_pages_with_cursor(
    client: httpx.AsyncClient, auth_headers: AuthHeaders, customer: User, post_order: PostOrder
) -> None:
    created = [
        (await post_order(customer, description=f"Serviço número {index} na casa")).json()["id"]
        for index in range(3)
    ]

    first = await client.get(
        "/api/service-orders", params={"limit": 2}, headers=auth_headers(customer)
    )
    second = await client.get(
        "/api/service-orders",
        params={"limit": 2, "cursor": first.json()["nextCursor"]},
        headers=auth_headers(customer),
    )

    seen = [item["id"] for item in first.json()["items"] + second.json()["items"]]
    assert sorted(seen) == sorted(created)
    assert len(set(seen)) == 3
    assert second.json()["nextCursor"] is None


async def test_client_cannot_list_as_partner(
    client: httpx.AsyncClient, auth_headers: AuthHeaders, customer: User
) -> None:
    response = await client.get(
        "/api/service-orders", params={"role": "partner"}, headers=auth_headers(customer)
    )

    assert response.status_code == 403


async def test_partner_sees_rounded_location(
    client: httpx.AsyncClient,
    auth_headers: AuthHeaders,
    customer: User,
    painter: User,
    order_id: str,
) -> None:
    as_partner = await client.get(f"/api/service-orders/{order_id}", headers=auth_headers(painter))
    as_client = await client.get(f"/api/service-orders/{order_id}", headers=auth_headers(customer))

    assert as_partner.json()["lat"] == -24.96
    assert as_partner.json()["lng"] == -53.46
    assert as_client.json()["lat"] == -24.9555


async def test_stranger_gets_404(
    client: httpx.AsyncClient, auth_headers: AuthHeaders, make_user: MakeUser, order_id: str
) -> None:
    stranger = await make_user(role="client", name="Estranho")

    response = await client.get(f"/api/service-orders/{order_id}", headers=auth_headers(stranger))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "service_order.not_found"


async def test_periodic_expiry_task(db: AsyncSession, customer: User, order_id: str) -> None:
    from taskgo.jobs import app

    await db.execute(
        update(ServiceOrder)
        .where(ServiceOrder.id == uuid.UUID(order_id))
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )

    await app.tasks["service_orders.expire_open_orders"].func(timestamp=0)

    order = await db.get(ServiceOrder, uuid.UUID(order_id))
    assert order is not None
    await db.refresh(order)
    assert order.status == "expired"


async def test_client_partner_list_forbidden_localized(
    client: httpx.AsyncClient, make_user: Any, auth_headers: Any
) -> None:
    customer = await make_user(role="client")
    pt = await client.get(
        "/api/service-orders", params={"role": "partner"}, headers=auth_headers(customer)
    )
    en = await client.get(
        "/api/service-orders",
        params={"role": "partner"},
        headers=auth_headers(customer, **{"Accept-Language": "en"}),
    )
    assert pt.status_code == 403
    assert pt.json()["error"]["code"] == "auth.role_required"
    assert pt.json()["error"]["details"]["field"] == "role"
    assert "parceiros" in pt.json()["error"]["message"]
    assert "partner" not in pt.json()["error"]["message"]
    assert "partners" in en.json()["error"]["message"]

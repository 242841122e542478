"""The dispatch job: one notification per matching partner, in the partner's language."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.jobs.inline import run_queued_jobs
from taskgo.notifications.models import DeviceToken, Notification, PushAttempt
from taskgo.service_orders.dispatch import dispatch_order
from taskgo.service_orders.models import ServiceOrder, ServiceOrderDispatch
from tests.conftest import MakeUser
from tests.service_orders.conftest import FOZ, MakePartner
from tests.standins.fcm import make_device_token

PostOrder = Callable[..., Any]


async def notifications_of(db: AsyncSession, user_id: uuid.UUID) -> list[Notification]:
    rows = await db.scalars(select(Notification).where(Notification.user_id == user_id))
    return list(rows.all())


async def test_dispatch_notifies_each_match(
    db: AsyncSession, make_user: MakeUser, make_partner: MakePartner, post_order: PostOrder
) -> None:
    customer = await make_user(role="client")
    ana = await make_partner(name="Ana")
    bruno = await make_partner(name="Bruno", locale="en")
    elsewhere = await make_partner(name="Dora", city=FOZ)
    unverified = await make_partner(name="Caio", verified=False)

    response = await post_order(customer, budget="95.00")
    order_id = uuid.UUID(response.json()["id"])
    ran = await run_queued_jobs(db)

    assert ran[0] == "service_orders.dispatch_order"
    assert "notifications.send_push" in ran
    [to_ana] = await notifications_of(db, ana.id)
    assert to_ana.kind == "order_created"
    assert to_ana.title == "Nova ordem de serviço: Pintura em Cascavel"
    assert to_ana.body == "Orçamento: R$ 95,00. Pintar a sala e dois quartos, paredes brancas"
    assert to_ana.data == {
        "serviceOrderId": str(order_id),
        "category": "pintura",
        "cityId": 4104808,
        "status": "open",
    }
    [to_bruno] = await notifications_of(db, bruno.id)
    assert to_bruno.title == "New service order: Painting in Cascavel"
    assert to_bruno.body == "Budget: R$95.00. Pintar a sala e dois quartos, paredes brancas"
    assert await notifications_of(db, elsewhere.id) == []
    assert await notifications_of(db, unverified.id) == []
    assert await notifications_of(db, customer.id) == []

    dispatched = await db.scalars(
        select(ServiceOrderDispatch.partner_id).where(
            ServiceOrderDispatch.service_order_id == order_id
        )
    )
    assert set(dispatched) == {ana.id, bruno.id}
    order = await db.get(ServiceOrder, order_id)
    assert order is not None
    assert order.dispatched_at is not None


async def test_order_without_budget_body(
    db: AsyncSession, make_user: MakeUser, make_partner: MakePartner, post_order: PostOrder
) -> None:
    customer = await make_user(role="client")
    partner = await make_partner()

    await post_order(customer, description="Trocar três tomadas e um disjuntor")
    await run_queued_jobs(db)

    [notification] = await notifications_of(db, partner.id)
    assert notification.body == "Trocar três tomadas e um disjuntor"


async def test_dispatch_runs_once(
    db: AsyncSession, make_user: MakeUser, make_partner: MakePartner, post_order: PostOrder
) -> None:
    customer = await make_user(role="client")
    partner = await make_partner()
    response = await post_order(customer)
    await run_queued_jobs(db)

    again = await dispatch_order(db, uuid.UUID(response.json()["id"]))

    assert again == 0
    assert len(await notifications_of(db, partner.id)) == 1


async def test_taken_order_not_dispatched(
    db: AsyncSession, make_user: MakeUser, make_partner: MakePartner, post_order: PostOrder
) -> None:
    customer = await make_user(role="client")
    partner = await make_partner()
    response = await post_order(customer)
    order_id = uuid.UUID(response.json()["id"])
    await db.execute(
        text("UPDATE service_orders SET status = 'cancelled' WHERE id = :id"), {"id": order_id}
    )

    await run_queued_jobs(db)

    assert await notifications_of(db, partner.id) == []


async def test_push_goes_to_device_tokens(
    db: AsyncSession, make_user: MakeUser, make_partner: MakePartner, post_order: PostOrder
) -> None:
    customer = await make_user(role="client")
    partner = await make_partner()
    without_device = await make_partner(name="Sem Celular")
    device = DeviceToken(user_id=partner.id, token=make_device_token(), platform="android")
    db.add(device)
    await db.flush()

    await post_order(customer)
    await run_queued_jobs(db)

    attempts = list((await db.scalars(select(PushAttempt))).all())
    assert [(a.device_token_id, a.outcome, a.provider) for a in attempts] == [
        (device.id, "delivered", "log")
    ]
    [notification] = await notifications_of(db, partner.id)
    assert attempts[0].notification_id == notification.id
    assert len(await notifications_of(db, without_device.id)) == 1

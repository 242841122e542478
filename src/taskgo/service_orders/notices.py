"""What clients and partners receive about an order: Socket.IO events and notifications.

Events go out after the commit. `order_created` and `order_taken` follow the API contract;
`order_closed {serviceOrderId, status}` tells dispatched partners that an open order was
cancelled or expired, and `service_order_updated {serviceOrderId, status}` tells the
client and the assigned partner about every status change.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.notifications.service import notify
from taskgo.notifications.texts import Localized, Money
from taskgo.realtime import emit_after_commit, user_room
from taskgo.service_orders.categories import any_category
from taskgo.service_orders.models import ServiceOrder, ServiceOrderDispatch
from taskgo.users.service import city_view


def city_payload(city_id: int) -> dict[str, Any] | None:
    city = city_view(city_id)
    return city.model_dump(by_alias=True) if city else None


def city_name(city_id: int) -> str:
    city = city_view(city_id)
    return city.name if city else str(city_id)


async def category_label(session: AsyncSession, slug: str) -> Localized:
    category = await any_category(session, slug)
    return Localized({"pt_BR": category.name_pt_br, "en": category.name_en})


async def dispatched_partners(
    session: AsyncSession, order_id: uuid.UUID, *, excluding: uuid.UUID | None = None
) -> list[uuid.UUID]:
    query = select(ServiceOrderDispatch.partner_id).where(
        ServiceOrderDispatch.service_order_id == order_id
    )
    if excluding is not None:
        query = query.where(ServiceOrderDispatch.partner_id != excluding)
    return list((await session.scalars(query)).all())


def emit_to_users(
    session: AsyncSession, event: str, data: Mapping[str, Any], users: Sequence[uuid.UUID]
) -> None:
    if users:
        emit_after_commit(session, event, dict(data), room=[user_room(user) for user in users])


def emit_status(session: AsyncSession, order: ServiceOrder) -> None:
    participants = [order.client_id, *([order.partner_id] if order.partner_id else [])]
    payload = {"serviceOrderId": str(order.id), "status": order.status}
    emit_to_users(session, "service_order_updated", payload, participants)


def order_data(order: ServiceOrder) -> dict[str, Any]:
    return {
        "serviceOrderId": str(order.id),
        "category": order.category_slug,
        "cityId": order.city_id,
        "status": order.status,
    }


async def tell(
    session: AsyncSession,
    order: ServiceOrder,
    *,
    user_ids: Sequence[uuid.UUID],
    kind: str,
    params: Mapping[str, object] | None = None,
) -> None:
    """Notify users about `order` with the `push.<kind>.title/body` texts."""
    await notify(
        session,
        user_ids=user_ids,
        kind=kind,
        title_key=f"push.{kind}.title",
        body_key=f"push.{kind}.body",
        params={
            "category": await category_label(session, order.category_slug),
            "city": city_name(order.city_id),
            **(params or {}),
        },
        data=order_data(order),
    )


async def announce_new_order(
    session: AsyncSession, order: ServiceOrder, partner_ids: Sequence[uuid.UUID]
) -> None:
    """`order_created` to each partner's sockets and one notification row each."""
    # Queued first so the realtime event is not held behind one callback per row.
    emit_to_users(
        session,
        "order_created",
        {
            "serviceOrderId": str(order.id),
            "category": order.category_slug,
            "city": city_payload(order.city_id),
        },
        partner_ids,
    )
    body_key = "push.order_created.body"
    params: dict[str, object] = {
        "category": await category_label(session, order.category_slug),
        "city": city_name(order.city_id),
        "description": order.description,
    }
    if order.budget_cents is not None:
        body_key = "push.order_created.body_with_budget"
        params["budget"] = Money(order.budget_cents)
    await notify(
        session,
        user_ids=partner_ids,
        kind="order_created",
        title_key="push.order_created.title",
        body_key=body_key,
        params=params,
        data=order_data(order),
    )

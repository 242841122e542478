"""Telling partners about open orders: a new order's dispatch, and the summary a partner
gets on arriving in a city.

Both record the partners notified in `service_order_dispatches`, so a rerun of either
job notifies nobody twice, and those partners later get the order's `order_taken` or
`order_closed` event.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from sqlalchemy import exists, func, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.notifications.service import notify
from taskgo.notifications.texts import Localized
from taskgo.service_orders import notices
from taskgo.service_orders.categories import all_categories
from taskgo.service_orders.models import (
    OrderStatus,
    PartnerCategory,
    ServiceOrder,
    ServiceOrderDispatch,
)
from taskgo.service_orders.service import matching_partners
from taskgo.users.models import Role, User, VerificationStatus

log = structlog.get_logger(__name__)

# Order ids carried in the summary push's data; the app lists the rest from the API.
SUMMARY_MAX_ORDER_IDS = 10


async def dispatch_order(session: AsyncSession, order_id: uuid.UUID) -> int:
    """Notify every matching partner of a new order and return how many were notified.

    Runs once per order: a rerun, or an order already taken or cancelled, does nothing.
    """
    order = await session.scalar(
        select(ServiceOrder).where(ServiceOrder.id == order_id).with_for_update()
    )
    if order is None or order.status != OrderStatus.OPEN or order.dispatched_at is not None:
        log.info("service_order.dispatch_skipped", service_order_id=str(order_id))
        return 0

    matching = matching_partners(
        city_id=order.city_id, category_slug=order.category_slug, client_id=order.client_id
    )
    recorded = await session.execute(
        insert(ServiceOrderDispatch)
        .from_select(
            ["service_order_id", "partner_id"],
            select(literal(order.id), matching.subquery().c.id),
        )
        .on_conflict_do_nothing()
        .returning(ServiceOrderDispatch.partner_id)
    )
    partner_ids = list(recorded.scalars().all())
    order.dispatched_at = datetime.now(UTC)

    if partner_ids:
        await notices.announce_new_order(session, order, partner_ids)
    log.info(
        "service_order.dispatched",
        service_order_id=str(order.id),
        partners=len(partner_ids),
        matched_at_creation=order.notified_partners,
    )
    return len(partner_ids)


async def announce_city_orders(
    session: AsyncSession, *, partner_id: uuid.UUID, city_id: int
) -> int:
    """Send a partner who just arrived in `city_id` one summary of its open orders in their
    categories that they were not notified of yet. Return how many orders it names.

    Nothing is sent when the partner is not verified, has moved on since the job was
    queued, or no order matches.
    """
    partner = await session.get(User, partner_id)
    if (
        partner is None
        or partner.role != Role.PARTNER.value
        or partner.verification_status != VerificationStatus.VERIFIED.value
        or partner.current_city_id != city_id
    ):
        log.info("service_order.city_summary_skipped", partner_id=str(partner_id), city_id=city_id)
        return 0

    already_told = exists().where(
        ServiceOrderDispatch.service_order_id == ServiceOrder.id,
        ServiceOrderDispatch.partner_id == partner.id,
    )
    served = select(PartnerCategory.category_slug).where(PartnerCategory.partner_id == partner.id)
    orders = list(
        (
            await session.scalars(
                select(ServiceOrder)
                .where(
                    ServiceOrder.status == OrderStatus.OPEN.value,
                    ServiceOrder.city_id == city_id,
                    ServiceOrder.category_slug.in_(served),
                    ServiceOrder.client_id != partner.id,
                    ServiceOrder.expires_at > func.now(),
                    ~already_told,
                )
                .order_by(ServiceOrder.created_at.desc())
            )
        ).all()
    )
    if not orders:
        return 0

    recorded = await session.execute(
        insert(ServiceOrderDispatch)
        .values([{"service_order_id": order.id, "partner_id": partner.id} for order in orders])
        .on_conflict_do_nothing()
        .returning(ServiceOrderDispatch.service_order_id)
    )
    # A dispatch job that committed after the query above has already notified the partner.
    new_ids = set(recorded.scalars().all())
    orders = [order for order in orders if order.id in new_ids]
    if not orders:
        return 0
    count = len(orders)
    await notify(
        session,
        user_ids=[partner.id],
        kind="city_orders",
        title_key="push.city_orders.title_one" if count == 1 else "push.city_orders.title_other",
        body_key="push.city_orders.body",
        params={
            "count": count,
            "city": notices.city_name(city_id),
            "categories": await _category_list(session, {order.category_slug for order in orders}),
        },
        data={
            "cityId": city_id,
            "count": count,
            "serviceOrderIds": [str(order.id) for order in orders[:SUMMARY_MAX_ORDER_IDS]],
        },
    )
    log.info(
        "service_order.city_summary_sent", partner_id=str(partner.id), city_id=city_id, orders=count
    )
    return count


async def _category_list(session: AsyncSession, slugs: set[str]) -> Localized:
    """Join the categories' names with commas, in display order, in each language."""
    named = [
        category for category in (await all_categories(session)).values() if category.slug in slugs
    ]
    return Localized(
        {
            "pt_BR": ", ".join(category.name_pt_br for category in named),
            "en": ", ".join(category.name_en for category in named),
        }
    )

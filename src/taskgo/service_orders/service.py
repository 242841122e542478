"""Service order rules: partner categories, creating an order from a GPS fix, visibility.

State changes after creation live in `lifecycle`, and the dispatch to partners in `dispatch`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Select, delete, exists, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.config import get_settings
from taskgo.errors import AppError
from taskgo.geo.service import resolve_city
from taskgo.i18n import translate
from taskgo.jobs import enqueue
from taskgo.pagination import apply_keyset, page_of
from taskgo.service_orders.categories import Category, all_categories, get_category
from taskgo.service_orders.models import (
    OrderStatus,
    PartnerCategory,
    ServiceOrder,
    ServiceOrderDispatch,
)
from taskgo.service_orders.schemas import OrderRole, ServiceOrderCreateIn
from taskgo.users.models import Role, User, VerificationStatus

log = structlog.get_logger(__name__)

DISPATCH_TASK = "service_orders.dispatch_order"


async def partner_categories(session: AsyncSession, *, partner: User) -> list[Category]:
    slugs = set(
        await session.scalars(
            select(PartnerCategory.category_slug).where(PartnerCategory.partner_id == partner.id)
        )
    )
    return [
        category for category in (await all_categories(session)).values() if category.slug in slugs
    ]


async def set_partner_categories(
    session: AsyncSession, *, partner: User, slugs: list[str]
) -> list[Category]:
    """Replace the partner's categories with `slugs` (duplicates ignored, empty allowed)."""
    wanted = list(dict.fromkeys(slugs))
    for index, slug in enumerate(wanted):
        await get_category(session, slug, field=f"categories.{index}")

    await session.execute(
        delete(PartnerCategory).where(
            PartnerCategory.partner_id == partner.id, PartnerCategory.category_slug.not_in(wanted)
        )
    )
    if wanted:
        await session.execute(
            insert(PartnerCategory)
            .values([{"partner_id": partner.id, "category_slug": slug} for slug in wanted])
            .on_conflict_do_nothing()
        )
    log.info("partner.categories_set", partner_id=str(partner.id), categories=wanted)
    return await partner_categories(session, partner=partner)


def matching_partners(*, city_id: int, category_slug: str, client_id: uuid.UUID) -> Select[Any]:
    """Partners to dispatch an order to: verified, now in its city, serving its category,
    and not the client who posted it."""
    return (
        select(User.id)
        .join(
            PartnerCategory,
            (PartnerCategory.partner_id == User.id)
            & (PartnerCategory.category_slug == category_slug),
        )
        .where(
            User.role == Role.PARTNER.value,
            User.verification_status == VerificationStatus.VERIFIED.value,
            User.current_city_id == city_id,
            User.id != client_id,
        )
    )


async def create_order(
    session: AsyncSession, *, client: User, data: ServiceOrderCreateIn
) -> ServiceOrder:
    """Create an open order in the city of the GPS fix and queue its dispatch job.

    The partners are counted now. The job notifies the partners matching when it runs.
    """
    category = await get_category(session, data.category, field="category")
    city = resolve_city(data.lat, data.lng)
    now = datetime.now(UTC)
    matching = matching_partners(
        city_id=city.ibge_code, category_slug=category.slug, client_id=client.id
    )

    # One statement counts the partners and inserts the order, to keep the request short.
    order = await session.scalar(
        insert(ServiceOrder)
        .values(
            id=uuid.uuid4(),
            client_id=client.id,
            category_slug=category.slug,
            description=data.description,
            budget_cents=data.budget,
            lat=data.lat,
            lng=data.lng,
            city_id=city.ibge_code,
            status=OrderStatus.OPEN.value,
            notified_partners=select(func.count())
            .select_from(matching.subquery())
            .scalar_subquery(),
            expires_at=now + timedelta(days=get_settings().service_order_expiry_days),
            # The wall clock, not the transaction start, so lists order by real creation time.
            created_at=now,
            updated_at=now,
        )
        .returning(ServiceOrder)
    )
    assert order is not None
    await enqueue(session, DISPATCH_TASK, service_order_id=str(order.id))

    log.info(
        "service_order.created",
        service_order_id=str(order.id),
        client_id=str(client.id),
        city_id=city.ibge_code,
        category=category.slug,
        matched_partners=order.notified_partners,
    )
    return order


async def serves_category(session: AsyncSession, *, partner: User, category_slug: str) -> bool:
    query = select(
        exists().where(
            PartnerCategory.partner_id == partner.id,
            PartnerCategory.category_slug == category_slug,
        )
    )
    return bool(await session.scalar(query))


async def was_dispatched(session: AsyncSession, *, order: ServiceOrder, partner: User) -> bool:
    query = select(
        exists().where(
            ServiceOrderDispatch.service_order_id == order.id,
            ServiceOrderDispatch.partner_id == partner.id,
        )
    )
    return bool(await session.scalar(query))


async def is_prospect(session: AsyncSession, *, order: ServiceOrder, partner: User) -> bool:
    """Tell whether the partner was notified of the order or could take it from where they are."""
    if partner.role != Role.PARTNER.value:
        return False
    if await was_dispatched(session, order=order, partner=partner):
        return True
    return partner.current_city_id == order.city_id and await serves_category(
        session, partner=partner, category_slug=order.category_slug
    )


async def can_view(session: AsyncSession, *, order: ServiceOrder, user: User) -> bool:
    """Allow the client, the assigned partner and admins always, and other partners while
    the order is open and they are prospects for it."""
    if user.id in (order.client_id, order.partner_id) or user.role == Role.ADMIN.value:
        return True
    if order.status != OrderStatus.OPEN:
        return False
    return await is_prospect(session, order=order, partner=user)


async def _load(session: AsyncSession, order_id: uuid.UUID) -> ServiceOrder:
    query = select(ServiceOrder).where(ServiceOrder.id == order_id)
    order = await session.scalar(query.execution_options(populate_existing=True))
    if order is None:
        raise AppError("service_order.not_found", status=404)
    return order


async def get_order(session: AsyncSession, *, order_id: uuid.UUID, user: User) -> ServiceOrder:
    """Return the order if `user` may see it, else 404, so others' order ids leak nothing."""
    order = await _load(session, order_id)
    if not await can_view(session, order=order, user=user):
        raise AppError("service_order.not_found", status=404)
    return order


async def get_order_to_accept(
    session: AsyncSession, *, order_id: uuid.UUID, partner: User
) -> ServiceOrder:
    """Return the order for an accept by a prospect, whatever its status, so that a partner
    who was too late learns it was taken (409) rather than that it does not exist (404)."""
    order = await _load(session, order_id)
    if partner.id in (order.client_id, order.partner_id):
        return order
    if not await is_prospect(session, order=order, partner=partner):
        raise AppError("service_order.not_found", status=404)
    return order


def _available_to_partner(partner: User) -> Select[Any]:
    served = select(PartnerCategory.category_slug).where(PartnerCategory.partner_id == partner.id)
    return select(ServiceOrder).where(
        ServiceOrder.status == OrderStatus.OPEN.value,
        ServiceOrder.city_id == partner.current_city_id,
        ServiceOrder.category_slug.in_(served),
        ServiceOrder.client_id != partner.id,
        ServiceOrder.expires_at > func.now(),
    )


async def list_orders(
    session: AsyncSession,
    *,
    user: User,
    role: OrderRole,
    status: OrderStatus | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[ServiceOrder], str | None]:
    """Orders for one view: `client` (posted by me), `partner` (open ones in my current city
    and categories) or `assigned` (taken by me). Newest first."""
    if role == "client":
        query = select(ServiceOrder).where(ServiceOrder.client_id == user.id)
    elif user.role != Role.PARTNER.value:
        raise AppError(
            "auth.role_required",
            status=403,
            field="role",
            details={"roles": ["partner"]},
            roles=translate("auth.role.partner"),
        )
    elif role == "partner":
        if user.current_city_id is None:
            return [], None
        query = _available_to_partner(user)
    else:
        query = select(ServiceOrder).where(ServiceOrder.partner_id == user.id)

    if status is not None:
        query = query.where(ServiceOrder.status == status.value)
    query = apply_keyset(
        query,
        created_at=ServiceOrder.created_at,
        row_id=ServiceOrder.id,
        cursor=cursor,
        limit=limit,
    )
    rows: list[ServiceOrder] = list((await session.scalars(query)).all())
    return page_of(rows, limit=limit, key=lambda row: (row.created_at, row.id))

"""HTTP routes of service categories, partner categories and service orders."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import JSONResponse

from taskgo.auth.deps import ClientUser, CurrentUser, PartnerUser
from taskgo.db.session import DbSession
from taskgo.i18n import current_locale
from taskgo.idempotency import IdempotencyKey, claim, remember
from taskgo.pagination import Cursor, Limit
from taskgo.service_orders import categories, lifecycle, service
from taskgo.service_orders.categories import Category
from taskgo.service_orders.models import OrderStatus, ServiceOrder
from taskgo.service_orders.schemas import (
    CategoryOut,
    OrderRole,
    PartnerCategoriesIn,
    ServiceOrderCancelIn,
    ServiceOrderCreateIn,
    ServiceOrderOut,
    ServiceOrderPage,
)
from taskgo.users.models import User
from taskgo.users.service import city_view

router = APIRouter(prefix="/api", tags=["service orders"])


def category_out(category: Category) -> CategoryOut:
    return CategoryOut(slug=category.slug, name=category.name(current_locale()))


def order_out(order: ServiceOrder, *, viewer: User, category: Category) -> ServiceOrderOut:
    exact = viewer.id in (order.client_id, order.partner_id)
    return ServiceOrderOut(
        id=order.id,
        status=order.status,
        category=order.category_slug,
        category_name=category.name(current_locale()),
        description=order.description,
        budget=order.budget_cents,
        city=city_view(order.city_id),
        # Two decimals of a degree are about 1 km: enough to judge the trip, not the door.
        lat=order.lat if exact else round(order.lat, 2),
        lng=order.lng if exact else round(order.lng, 2),
        client_id=order.client_id,
        partner_id=order.partner_id,
        notified_partners=order.notified_partners,
        created_at=order.created_at,
        updated_at=order.updated_at,
        expires_at=order.expires_at,
        accepted_at=order.accepted_at,
        started_at=order.started_at,
        completed_at=order.completed_at,
        cancelled_at=order.cancelled_at,
        expired_at=order.expired_at,
        cancel_reason=order.cancel_reason,
    )


async def _order_out(session: DbSession, order: ServiceOrder, viewer: User) -> ServiceOrderOut:
    category = await categories.any_category(session, order.category_slug)
    return order_out(order, viewer=viewer, category=category)


@router.get("/service-categories", response_model=list[CategoryOut])
async def list_categories(session: DbSession) -> list[CategoryOut]:
    """List every active category, named in the request's language."""
    return [category_out(category) for category in await categories.active_categories(session)]


@router.get("/partners/me/categories", response_model=list[CategoryOut])
async def get_partner_categories(partner: PartnerUser, session: DbSession) -> list[CategoryOut]:
    rows = await service.partner_categories(session, partner=partner)
    return [category_out(category) for category in rows]


@router.put("/partners/me/categories", response_model=list[CategoryOut])
async def set_partner_categories(
    body: PartnerCategoriesIn, partner: PartnerUser, session: DbSession
) -> list[CategoryOut]:
    """Replace the categories the partner serves; 422 `service_category.unknown` names the
    first unknown slug."""
    rows = await service.set_partner_categories(session, partner=partner, slugs=body.categories)
    return [category_out(category) for category in rows]


@router.post("/service-orders", response_model=ServiceOrderOut, status_code=status.HTTP_201_CREATED)
async def create_order(
    body: ServiceOrderCreateIn,
    client: ClientUser,
    session: DbSession,
    idempotency_key: IdempotencyKey = None,
) -> ServiceOrderOut | JSONResponse:
    """Post an order in the city of the GPS fix. A job notifies the matching partners
    after the commit, and `notifiedPartners` is how many matched at that moment."""
    claimed = await claim(
        session,
        user_id=client.id,
        scope="service_orders.create",
        key=idempotency_key,
        payload=body.model_dump(mode="json"),
    )
    if claimed.replay:
        return claimed.replay

    order = await service.create_order(session, client=client, data=body)
    response = await _order_out(session, order, client)
    await remember(
        session, claimed, status_code=201, body=response.model_dump(mode="json", by_alias=True)
    )
    return response


@router.get("/service-orders", response_model=ServiceOrderPage)
async def list_orders(
    user: CurrentUser,
    session: DbSession,
    role: Annotated[
        OrderRole | None,
        Query(
            description="`client`: orders I posted. `partner`: open orders in my current city "
            "and categories. `assigned`: orders I accepted. Default: my own role's view."
        ),
    ] = None,
    status_filter: Annotated[OrderStatus | None, Query(alias="status")] = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> ServiceOrderPage:
    chosen: OrderRole = role or ("partner" if user.role == "partner" else "client")
    rows, next_cursor = await service.list_orders(
        session, user=user, role=chosen, status=status_filter, cursor=cursor, limit=limit
    )
    known = await categories.all_categories(session)
    return ServiceOrderPage(
        items=[order_out(row, viewer=user, category=known[row.category_slug]) for row in rows],
        next_cursor=next_cursor,
    )


@router.get("/service-orders/{order_id}", response_model=ServiceOrderOut)
async def get_order(order_id: uuid.UUID, user: CurrentUser, session: DbSession) -> ServiceOrderOut:
    order = await service.get_order(session, order_id=order_id, user=user)
    return await _order_out(session, order, user)


@router.post("/service-orders/{order_id}/accept", response_model=ServiceOrderOut)
async def accept_order(
    order_id: uuid.UUID, partner: PartnerUser, session: DbSession
) -> ServiceOrderOut:
    """Take an open order. The first partner wins, and a retry of theirs gets the order again.
    The others get 409 `service_order.already_taken`, and the notified partners an
    `order_taken` event."""
    order = await service.get_order_to_accept(session, order_id=order_id, partner=partner)
    if not lifecycle.accepted_by(order, partner):
        await lifecycle.check_accept(session, order=order, partner=partner)
        await lifecycle.do_accept(session, order=order, partner=partner)
    return await _order_out(session, order, partner)


@router.post("/service-orders/{order_id}/start", response_model=ServiceOrderOut)
async def start_order(
    order_id: uuid.UUID, partner: PartnerUser, session: DbSession
) -> ServiceOrderOut:
    order = await service.get_order(session, order_id=order_id, user=partner)
    lifecycle.check_assigned_partner(order=order, partner=partner)
    await lifecycle.do_start(session, order=order, partner=partner)
    return await _order_out(session, order, partner)


@router.post("/service-orders/{order_id}/complete", response_model=ServiceOrderOut)
async def complete_order(
    order_id: uuid.UUID, partner: PartnerUser, session: DbSession
) -> ServiceOrderOut:
    order = await service.get_order(session, order_id=order_id, user=partner)
    lifecycle.check_assigned_partner(order=order, partner=partner)
    await lifecycle.do_complete(session, order=order, partner=partner)
    return await _order_out(session, order, partner)


@router.post("/service-orders/{order_id}/cancel", response_model=ServiceOrderOut)
async def cancel_order(
    order_id: uuid.UUID,
    client: ClientUser,
    session: DbSession,
    body: ServiceOrderCancelIn | None = None,
) -> ServiceOrderOut:
    """Cancel before completion; the assigned partner, if any, is notified."""
    order = await service.get_order(session, order_id=order_id, user=client)
    lifecycle.check_cancel(order=order, user=client)
    await lifecycle.do_cancel(session, order=order, reason=body.reason if body else None)
    return await _order_out(session, order, client)

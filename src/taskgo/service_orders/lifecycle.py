"""Order state changes: open → accepted → in_progress → completed, cancel and expiry.

Each change has a `check_*` that validates and authorises without writing, and a `do_*`
that applies it with one conditional UPDATE (`WHERE status IN (...)`). Concurrent
requests on one order serialise on its row, and the one that finds the status already
changed gets a 409, so two partners accepting at once cannot both win.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.errors import AppError
from taskgo.i18n import Label
from taskgo.service_orders import notices
from taskgo.service_orders.models import (
    ASSIGNED_STATUSES,
    CANCELLABLE_STATUSES,
    OrderStatus,
    ServiceOrder,
)
from taskgo.service_orders.service import serves_category
from taskgo.users.models import User, VerificationStatus

log = structlog.get_logger(__name__)


def status_label(status: str) -> Label:
    """Return the status name as a translated message parameter."""
    return Label(f"service_order.status.{status}")


def _status_conflict(order: ServiceOrder, *, accepting: bool = False) -> AppError:
    if accepting and order.status in ASSIGNED_STATUSES:
        return AppError("service_order.already_taken", status=409)
    return AppError(
        "service_order.invalid_status", status=409, status_name=status_label(order.status)
    )


async def _transition(
    session: AsyncSession,
    order: ServiceOrder,
    *,
    allowed_from: Sequence[OrderStatus],
    values: dict[str, Any],
    accepting: bool = False,
) -> None:
    """Apply `values` if the order is still in one of `allowed_from`; 409 otherwise."""
    changed = await session.execute(
        update(ServiceOrder)
        .where(
            ServiceOrder.id == order.id,
            ServiceOrder.status.in_([status.value for status in allowed_from]),
        )
        .values(**values, updated_at=datetime.now(UTC))
        .returning(ServiceOrder.id)
    )
    await session.refresh(order)
    if changed.scalar_one_or_none() is None:
        raise _status_conflict(order, accepting=accepting)


def accepted_by(order: ServiceOrder, partner: User) -> bool:
    """Return whether the order is already accepted by `partner`, so their accept is a retry."""
    return order.status == OrderStatus.ACCEPTED and order.partner_id == partner.id


async def check_accept(session: AsyncSession, *, order: ServiceOrder, partner: User) -> None:
    if partner.id == order.client_id:
        raise AppError("service_order.own_order", status=403)
    if partner.verification_status != VerificationStatus.VERIFIED.value:
        raise AppError("service_order.partner_not_verified", status=403)
    if order.status != OrderStatus.OPEN:
        raise _status_conflict(order, accepting=True)
    if order.expires_at <= datetime.now(UTC):
        raise AppError(
            "service_order.invalid_status",
            status=409,
            status_name=status_label(OrderStatus.EXPIRED),
        )
    if partner.current_city_id != order.city_id:
        raise AppError("service_order.outside_city", status=403)
    if not await serves_category(session, partner=partner, category_slug=order.category_slug):
        raise AppError("service_order.category_not_served", status=403)


async def do_accept(session: AsyncSession, *, order: ServiceOrder, partner: User) -> None:
    now = datetime.now(UTC)
    try:
        await _transition(
            session,
            order,
            allowed_from=[OrderStatus.OPEN],
            values={
                "status": OrderStatus.ACCEPTED.value,
                "partner_id": partner.id,
                "accepted_at": now,
            },
            accepting=True,
        )
    except AppError:
        if not accepted_by(order, partner):
            raise
        # A concurrent copy of this request won, and it has already sent the events.
        log.info(
            "service_order.accept_repeated",
            service_order_id=str(order.id),
            partner_id=str(partner.id),
        )
        return
    losers = await notices.dispatched_partners(session, order.id, excluding=partner.id)
    notices.emit_to_users(session, "order_taken", {"serviceOrderId": str(order.id)}, losers)
    notices.emit_status(session, order)
    await notices.tell(
        session,
        order,
        user_ids=[order.client_id],
        kind="order_accepted",
        params={"partner": partner.name},
    )
    log.info(
        "service_order.accepted",
        service_order_id=str(order.id),
        partner_id=str(partner.id),
        others_told=len(losers),
    )


def check_assigned_partner(*, order: ServiceOrder, partner: User) -> None:
    if order.partner_id != partner.id:
        raise AppError("service_order.not_assigned", status=403)


async def do_start(session: AsyncSession, *, order: ServiceOrder, partner: User) -> None:
    await _transition(
        session,
        order,
        allowed_from=[OrderStatus.ACCEPTED],
        values={"status": OrderStatus.IN_PROGRESS.value, "started_at": datetime.now(UTC)},
    )
    notices.emit_status(session, order)
    await notices.tell(
        session,
        order,
        user_ids=[order.client_id],
        kind="order_started",
        params={"partner": partner.name},
    )
    log.info("service_order.started", service_order_id=str(order.id))


async def do_complete(session: AsyncSession, *, order: ServiceOrder, partner: User) -> None:
    await _transition(
        session,
        order,
        allowed_from=[OrderStatus.IN_PROGRESS],
        values={"status": OrderStatus.COMPLETED.value, "completed_at": datetime.now(UTC)},
    )
    notices.emit_status(session, order)
    await notices.tell(
        session,
        order,
        user_ids=[order.client_id],
        kind="order_completed",
        params={"partner": partner.name},
    )
    log.info("service_order.completed", service_order_id=str(order.id))


def check_cancel(*, order: ServiceOrder, user: User) -> None:
    if order.client_id != user.id:
        raise AppError("service_order.not_client", status=403)
    if order.status not in CANCELLABLE_STATUSES:
        raise AppError(
            "service_order.invalid_status", status=409, status_name=status_label(order.status)
        )


async def do_cancel(session: AsyncSession, *, order: ServiceOrder, reason: str | None) -> None:
    """Cancel for the client; the assigned partner, if any, is notified."""
    await _transition(
        session,
        order,
        allowed_from=CANCELLABLE_STATUSES,
        values={
            "status": OrderStatus.CANCELLED.value,
            "cancelled_at": datetime.now(UTC),
            "cancel_reason": reason,
        },
    )
    await _close_for_partners(session, order)
    notices.emit_status(session, order)
    # Read after the update: a partner may have accepted since the client loaded the order.
    if order.partner_id is not None:
        await notices.tell(session, order, user_ids=[order.partner_id], kind="order_cancelled")
    log.info(
        "service_order.cancelled",
        service_order_id=str(order.id),
        was_open=order.partner_id is None,
    )


async def _close_for_partners(session: AsyncSession, order: ServiceOrder) -> None:
    partners = await notices.dispatched_partners(session, order.id, excluding=order.partner_id)
    payload = {"serviceOrderId": str(order.id), "status": order.status}
    notices.emit_to_users(session, "order_closed", payload, partners)


async def expire_due_orders(session: AsyncSession, *, batch_size: int = 200) -> list[uuid.UUID]:
    """Expire one batch of open orders past `expires_at`; return their ids.

    Rows locked by a concurrent accept are skipped and looked at in the next run.
    """
    due = (
        select(ServiceOrder.id)
        .where(
            ServiceOrder.status == OrderStatus.OPEN.value,
            ServiceOrder.expires_at <= datetime.now(UTC),
        )
        .order_by(ServiceOrder.expires_at)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    )
    orders = list(
        (
            await session.scalars(
                update(ServiceOrder)
                .where(ServiceOrder.id.in_(due.scalar_subquery()))
                .values(
                    status=OrderStatus.EXPIRED.value,
                    expired_at=datetime.now(UTC),
                    updated_at=datetime.now(UTC),
                )
                .returning(ServiceOrder)
                .execution_options(populate_existing=True)
            )
        ).all()
    )
    for order in orders:
        await _close_for_partners(session, order)
        notices.emit_status(session, order)
        await notices.tell(session, order, user_ids=[order.client_id], kind="order_expired")
    if orders:
        log.info("service_order.expired", orders=len(orders))
    return [order.id for order in orders]

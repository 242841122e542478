"""The assistant's read access to purchases, tracking and service orders of one user.

Each lookup calls the owning domain's service functions with the authenticated user, so
the other domains' own participant checks apply. Every lookup runs inside a SAVEPOINT
that is always rolled back, and the after-commit callbacks it registers are dropped. So
even a service function that writes leaves no trace (the tracking timeline creates its
shipment row on first read), and no tool call can change state.

The domains have no search by the start of an id, so the short order numbers are resolved
here, with a query that only selects rows where the user is a participant. The order found
is then read through the domain's own service function as for a full id.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.db.session import AFTER_COMMIT_KEY
from taskgo.errors import AppError
from taskgo.i18n import format_brl
from taskgo.money import format_centavos
from taskgo.support.references import OrderReference
from taskgo.support.tools import LookupUnavailable
from taskgo.users.models import User

log = structlog.get_logger(__name__)

# Descriptions typed by clients can be long; the model needs only the gist.
_DESCRIPTION_CHARS = 160
_FILTERED_FETCH = 50


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _service_function(module_name: str, *names: str) -> Callable[..., Any]:
    """Return the first of `names` in a domain's module (a service function or a model).

    Raises LookupUnavailable when the domain or the function does not exist, so the tool
    returns "not available" instead of failing the whole turn.
    """
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise LookupUnavailable(module_name) from error
    for name in names:
        function = getattr(module, name, None)
        if callable(function):
            return function
    raise LookupUnavailable(f"{module_name}.{names[0]}")


def _model(module_name: str, name: str) -> Any:
    return _service_function(module_name, name)


class DomainOrderLookup:
    def __init__(self, session: AsyncSession, *, user: User, locale: str) -> None:
        self._session = session
        self._user = user
        self._locale = locale

    @asynccontextmanager
    async def _read_only(self) -> AsyncIterator[None]:
        pending = list(self._session.info.get(AFTER_COMMIT_KEY, []))
        savepoint = await self._session.begin_nested()
        try:
            yield
        finally:
            await savepoint.rollback()
            self._session.info[AFTER_COMMIT_KEY] = pending

    # --- purchases ------------------------------------------------------------------------

    def _purchase_summary(self, purchase: Any) -> dict[str, Any]:
        role = "seller" if purchase.seller_id == self._user.id else "buyer"
        items = [f"{item.title} x{item.quantity}" for item in (purchase.items or [])]
        return {
            "purchaseId": str(purchase.id),
            "role": role,
            "status": purchase.status,
            "total": format_centavos(purchase.total_cents),
            "totalFormatted": format_brl(purchase.total_cents, self._locale),
            "items": items,
            "trackingCode": purchase.tracking_code,
            "holdReason": purchase.hold_reason,
            "createdAt": _iso(purchase.created_at),
            "shippedAt": _iso(purchase.shipped_at),
            "deliveredAt": _iso(purchase.delivered_at),
            "releaseAt": _iso(purchase.release_at),
        }

    async def list_purchases(self, *, status: str | None, limit: int) -> list[dict[str, Any]]:
        list_for_user = _service_function("taskgo.purchases.service", "list_purchases_for_user")
        # A status filter is applied here, so look further back to still fill `limit`.
        fetch = _FILTERED_FETCH if status else limit
        async with self._read_only():
            purchases = await list_for_user(self._session, user=self._user, limit=fetch)
            summaries = [self._purchase_summary(purchase) for purchase in purchases]
        if status:
            summaries = [item for item in summaries if item["status"] == status]
        return summaries[:limit]

    async def get_tracking(self, *, purchase_id: uuid.UUID) -> dict[str, Any] | None:
        get_purchase = _service_function("taskgo.purchases.service", "get_purchase_for_participant")
        get_timeline = _service_function("taskgo.tracking.service", "get_timeline")
        async with self._read_only():
            try:
                purchase = await get_purchase(
                    self._session, purchase_id=purchase_id, user=self._user
                )
                timeline = await get_timeline(
                    self._session, purchase_id=purchase_id, user=self._user
                )
            except AppError as error:
                # Not found and not a participant look the same to the model on purpose.
                log.info(
                    "support.lookup.purchase_refused",
                    user_id=str(self._user.id),
                    purchase_id=str(purchase_id),
                    code=error.code,
                )
                return None
            summary = self._purchase_summary(purchase)
            summary.update(
                trackingCode=timeline.tracking_code or summary["trackingCode"],
                trackingStatus=timeline.status,
                events=[
                    {
                        "status": event.status,
                        "description": event.description,
                        "location": event.location,
                        "occurredAt": _iso(event.occurred_at),
                    }
                    for event in timeline.events[-10:]
                ],
            )
        return summary

    async def find_purchases(
        self, *, reference: OrderReference, limit: int
    ) -> list[dict[str, Any]]:
        # NOTE: this and find_service_orders read the domain tables directly and repeat the
        # domains' rule of who takes part in an order. A change to that rule belongs here too.
        purchase = _model("taskgo.purchases.models", "Purchase")
        low, high = reference.bounds
        query = (
            select(purchase)
            .where(
                or_(purchase.buyer_id == self._user.id, purchase.seller_id == self._user.id),
                purchase.id.between(low, high),
            )
            .order_by(purchase.created_at.desc(), purchase.id.desc())
            .limit(limit)
        )
        async with self._read_only():
            rows = list(await self._session.scalars(query))
            return [self._purchase_summary(row) for row in rows]

    # --- service orders -------------------------------------------------------------------

    async def list_service_orders(self, *, status: str | None, limit: int) -> list[dict[str, Any]]:
        list_orders = _service_function("taskgo.service_orders.service", "list_orders")
        category_names = _service_function("taskgo.service_orders.categories", "all_categories")
        # Orders the user posted, and for partners also the orders they took.
        roles = ["client", "assigned"] if self._user.role == "partner" else ["client"]
        async with self._read_only():
            orders: list[Any] = []
            for role in roles:
                rows, _ = await list_orders(
                    self._session,
                    user=self._user,
                    role=role,
                    status=None,
                    cursor=None,
                    limit=_FILTERED_FETCH if status else limit,
                )
                orders.extend(rows)
            names = await category_names(self._session)
            orders.sort(key=lambda order: (order.created_at, order.id), reverse=True)
            summaries = [self._service_order_summary(order, names) for order in orders]
        if status:
            summaries = [item for item in summaries if item["status"] == status]
        return summaries[:limit]

    async def get_service_order(self, *, order_id: uuid.UUID) -> dict[str, Any] | None:
        get_order = _service_function("taskgo.service_orders.service", "get_order")
        category_names = _service_function("taskgo.service_orders.categories", "all_categories")
        reason: str | None = None
        async with self._read_only():
            try:
                order = await get_order(self._session, order_id=order_id, user=self._user)
            except AppError as error:
                order, reason = None, error.code
            # The domain also shows open orders to partners who may take them, and every
            # order to admins. The assistant looks up only the user's own orders.
            if order is not None and self._user.id not in (order.client_id, order.partner_id):
                order, reason = None, "not_participant"
            if order is None:
                log.info(
                    "support.lookup.service_order_refused",
                    user_id=str(self._user.id),
                    service_order_id=str(order_id),
                    code=reason,
                )
                return None
            names = await category_names(self._session)
            return self._service_order_summary(order, names)

    async def find_service_orders(
        self, *, reference: OrderReference, limit: int
    ) -> list[dict[str, Any]]:
        service_order = _model("taskgo.service_orders.models", "ServiceOrder")
        category_names = _service_function("taskgo.service_orders.categories", "all_categories")
        low, high = reference.bounds
        mine = or_(
            service_order.client_id == self._user.id, service_order.partner_id == self._user.id
        )
        query = (
            select(service_order)
            .where(mine, service_order.id.between(low, high))
            .order_by(service_order.created_at.desc(), service_order.id.desc())
            .limit(limit)
        )
        async with self._read_only():
            rows = list(await self._session.scalars(query))
            names = await category_names(self._session) if rows else {}
            return [self._service_order_summary(row, names) for row in rows]

    def _service_order_summary(self, order: Any, names: dict[str, Any]) -> dict[str, Any]:
        category = names.get(order.category_slug)
        return {
            "serviceOrderId": str(order.id),
            "role": "partner" if order.partner_id == self._user.id else "client",
            "status": order.status,
            "category": order.category_slug,
            "categoryName": category.name(self._locale) if category is not None else None,
            "description": (order.description or "")[:_DESCRIPTION_CHARS],
            "createdAt": _iso(order.created_at),
            "acceptedAt": _iso(getattr(order, "accepted_at", None)),
        }

"""The manual provider: sellers (manual mode) and admins (any mode) add tracking events.

It also drives the demo, where one call moves a shipment to its next usual step.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.admin.service import record_audit
from taskgo.errors import AppError, conflict, forbidden, not_found
from taskgo.i18n import translate
from taskgo.purchases import service as purchases_service
from taskgo.purchases.models import Purchase
from taskgo.tracking import service
from taskgo.tracking.correios_events import CarrierEvent
from taskgo.tracking.models import TrackingEvent, TrackingShipment
from taskgo.tracking.settings import get_tracking_settings
from taskgo.tracking.statuses import TrackingStatus
from taskgo.users.models import Role, User

logger = structlog.get_logger(__name__)

# Clocks of phones and servers differ a little; a time this far ahead is still accepted.
_CLOCK_SKEW = timedelta(minutes=5)

# The path a parcel usually takes, used by the demo to pick the next step.
DEMO_STEPS: tuple[TrackingStatus, ...] = (
    TrackingStatus.POSTED,
    TrackingStatus.IN_TRANSIT,
    TrackingStatus.OUT_FOR_DELIVERY,
    TrackingStatus.DELIVERED,
)
# Wording Correios uses for these steps, stored like a carrier description.
_DEMO_DESCRIPTIONS = {
    TrackingStatus.POSTED: "Objeto postado",
    TrackingStatus.IN_TRANSIT: "Objeto em trânsito - por favor aguarde",
    TrackingStatus.OUT_FOR_DELIVERY: "Objeto saiu para entrega ao destinatário",
    TrackingStatus.DELIVERED: "Objeto entregue ao destinatário",
}


@dataclass(frozen=True, slots=True)
class ManualResult:
    purchase: Purchase
    event: TrackingEvent


async def _load_for_writer(
    session: AsyncSession, *, purchase_id: uuid.UUID, actor: User | None
) -> tuple[Purchase, TrackingShipment]:
    """Load the purchase and its shipment, checking that ``actor`` may add events.

    ``actor=None`` is the operator at the command line, with an admin's rights.
    """
    is_admin = actor is None or actor.role == Role.ADMIN
    if is_admin:
        found = await session.get(Purchase, purchase_id)
        if found is None:
            raise not_found("purchase.not_found")
        purchase = found
    else:
        assert actor is not None
        purchase = await purchases_service.get_purchase_for_participant(
            session, purchase_id=purchase_id, user=actor
        )
    if actor is not None and not is_admin and actor.id != purchase.seller_id:
        raise forbidden("tracking.forbidden")
    if not is_admin and get_tracking_settings().tracking_provider != "manual":
        raise conflict("tracking.manual_events_disabled")
    # Once the buyer confirmed receipt, a seller's event would only push parcel news to that
    # buyer. Admins may still correct the record.
    if not is_admin and purchase.buyer_confirmed_at is not None:
        raise conflict("tracking.delivery_confirmed")

    shipment = await service.ensure_shipment(session, purchase=purchase)
    if shipment is None:
        raise conflict("tracking.not_shipped")
    if shipment.finished_at is not None:
        raise conflict(
            "tracking.shipment_finished",
            shipment_status=translate(f"tracking.status.{shipment.status}"),
        )
    return purchase, shipment


async def add_manual_event(
    session: AsyncSession,
    *,
    purchase_id: uuid.UUID,
    actor: User | None,
    status: TrackingStatus,
    description: str | None,
    location: str | None,
    occurred_at: datetime | None,
    now: datetime,
) -> ManualResult:
    """Add one event typed by the seller or an admin and apply its effects."""
    purchase, shipment = await _load_for_writer(session, purchase_id=purchase_id, actor=actor)

    when = occurred_at or now
    if when > now + _CLOCK_SKEW:
        raise AppError("tracking.event_in_future", field="occurredAt")
    if purchase.shipped_at is not None and when < purchase.shipped_at - _CLOCK_SKEW:
        raise AppError("tracking.event_too_old", field="occurredAt")

    event = CarrierEvent(
        carrier_code=None,
        status=status,
        description=description or translate(f"tracking.status.{status.value}", "pt_BR"),
        location=location or None,
        occurred_at=when,
        key=f"manual:{uuid.uuid4().hex}",
    )
    inserted = await service.record_events(
        session,
        shipment=shipment,
        purchase=purchase,
        events=[event],
        source="manual",
        now=now,
        actor_id=actor.id if actor is not None else None,
    )
    # The key is a fresh uuid4, so the insert always adds a row.
    created = inserted[0]

    if actor is None or actor.role == Role.ADMIN:
        await record_audit(
            session,
            actor_id=actor.id if actor is not None else None,
            action="tracking.event_added",
            target_type="purchase",
            target_id=purchase.id,
            details={"status": status.value, "eventId": str(created.id)},
        )
    logger.info(
        "tracking.manual_event_added",
        purchase_id=str(purchase.id),
        actor_id=str(actor.id) if actor is not None else None,
        status=status.value,
    )
    return ManualResult(purchase=purchase, event=created)


def next_demo_status(current: str | None) -> TrackingStatus | None:
    """Return the step after ``current`` on the usual path, or ``None`` at its end."""
    if current is None:
        return DEMO_STEPS[0]
    try:
        index = DEMO_STEPS.index(TrackingStatus(current))
    except ValueError:
        # From a side status (failed attempt, pickup) the parcel goes out again.
        return TrackingStatus.OUT_FOR_DELIVERY
    return DEMO_STEPS[index + 1] if index + 1 < len(DEMO_STEPS) else None


async def advance_demo(
    session: AsyncSession, *, purchase_id: uuid.UUID, actor: User | None, now: datetime
) -> ManualResult:
    """Add the next usual step (posted, in transit, out for delivery, delivered)."""
    _, shipment = await _load_for_writer(session, purchase_id=purchase_id, actor=actor)
    status = next_demo_status(shipment.status)
    if status is None:
        raise conflict("tracking.no_next_step")
    return await add_manual_event(
        session,
        purchase_id=purchase_id,
        actor=actor,
        status=status,
        description=_DEMO_DESCRIPTIONS[status],
        location=None,
        occurred_at=max(now, shipment.last_event_at or now),
        now=now,
    )

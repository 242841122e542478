"""Tracking rules: shipments of shipped purchases, storing new events and their effects.

Events are only ever added. The shipment's status is the status of its latest event by
carrier time. So an event that arrives late (a partial SRO response, a manual entry
typed afterwards) never moves a shipment backwards. A finished shipment (delivered or
returned) keeps its status. Nothing here cancels or refunds a purchase.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.purchases import service as purchases_service
from taskgo.purchases.models import Purchase
from taskgo.tracking import effects
from taskgo.tracking.correios_events import CarrierEvent
from taskgo.tracking.models import TrackingEvent, TrackingShipment
from taskgo.tracking.settings import get_tracking_settings
from taskgo.tracking.statuses import FINAL_STATUSES, TrackingStatus
from taskgo.users.models import User

logger = structlog.get_logger(__name__)

_MAX_DESCRIPTION_CHARS = 2000
_MAX_LOCATION_CHARS = 200


@dataclass(frozen=True, slots=True)
class Timeline:
    tracking_code: str | None
    status: str
    events: list[TrackingEvent]


async def ensure_shipment(session: AsyncSession, *, purchase: Purchase) -> TrackingShipment | None:
    """Return the shipment row of a shipped purchase, creating or re-coding it as needed.

    Returns ``None`` while the purchase has no tracking code. When the seller corrected
    the code, the row follows the new code and clears the "not found" streak.
    """
    code = purchase.tracking_code
    purchase_id = purchase.id
    if not code:
        return None

    shipment = await session.scalar(
        select(TrackingShipment)
        .where(TrackingShipment.purchase_id == purchase_id)
        .with_for_update()
    )
    if shipment is None:
        await session.execute(
            insert(TrackingShipment)
            .values(
                id=uuid.uuid4(),
                purchase_id=purchase_id,
                tracking_code=code,
                provider=get_tracking_settings().tracking_provider,
            )
            .on_conflict_do_nothing(index_elements=["purchase_id"])
        )
        shipment = await session.scalar(
            select(TrackingShipment)
            .where(TrackingShipment.purchase_id == purchase_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert shipment is not None
        logger.info("tracking.shipment_created", purchase_id=str(purchase_id))
    elif shipment.tracking_code != code and shipment.finished_at is None:
        logger.info(
            "tracking.shipment_recoded",
            purchase_id=str(purchase_id),
            shipment_id=str(shipment.id),
        )
        shipment.tracking_code = code
        # Events of the mistyped code belong to another parcel, so the status restarts from
        # the events stored under the new code (usually none).
        latest = await _latest_event(session, purchase_id=purchase_id, tracking_code=code)
        shipment.status = latest.status if latest is not None else None
        shipment.last_event_at = latest.occurred_at if latest is not None else None
        shipment.not_found_since = None
        shipment.not_found_warned_at = None
        shipment.last_carrier_message = None
    return shipment


async def list_events(
    session: AsyncSession, *, purchase_id: uuid.UUID, tracking_code: str
) -> list[TrackingEvent]:
    query = (
        select(TrackingEvent)
        .where(
            TrackingEvent.purchase_id == purchase_id,
            TrackingEvent.tracking_code == tracking_code,
        )
        .order_by(TrackingEvent.occurred_at, TrackingEvent.created_at, TrackingEvent.id)
    )
    return list((await session.scalars(query)).all())


async def _latest_event(
    session: AsyncSession, *, purchase_id: uuid.UUID, tracking_code: str
) -> TrackingEvent | None:
    query = (
        select(TrackingEvent)
        .where(
            TrackingEvent.purchase_id == purchase_id,
            TrackingEvent.tracking_code == tracking_code,
        )
        .order_by(TrackingEvent.occurred_at.desc(), TrackingEvent.created_at.desc())
        .limit(1)
    )
    return await session.scalar(query)


async def get_timeline(session: AsyncSession, *, purchase_id: uuid.UUID, user: User) -> Timeline:
    """Return code, current status and events of a purchase the user bought or sold."""
    purchase = await purchases_service.get_purchase_for_participant(
        session, purchase_id=purchase_id, user=user
    )
    return await timeline_of(session, purchase=purchase)


async def timeline_of(session: AsyncSession, *, purchase: Purchase) -> Timeline:
    """Build the timeline of a purchase the caller already may see."""
    shipment = await ensure_shipment(session, purchase=purchase)
    if shipment is None:
        return Timeline(tracking_code=None, status="not_shipped", events=[])
    events = await list_events(
        session, purchase_id=purchase.id, tracking_code=shipment.tracking_code
    )
    return Timeline(
        tracking_code=shipment.tracking_code,
        status=shipment.status or "pending",
        events=events,
    )


async def record_events(
    session: AsyncSession,
    *,
    shipment: TrackingShipment,
    purchase: Purchase,
    events: Sequence[CarrierEvent],
    source: str,
    now: datetime,
    actor_id: uuid.UUID | None = None,
) -> list[TrackingEvent]:
    """Store the events not stored yet and apply their effects; return the new rows.

    The unique key (purchase, event key) makes a repeated poll or a retried request
    store nothing twice. Effects: ``tracking_update`` to buyer and seller for each new
    event, a push for the newest major one, and the purchase marked delivered by a
    delivered event.
    """
    if not events:
        return []
    rows = [
        {
            "id": uuid.uuid4(),
            "purchase_id": shipment.purchase_id,
            "tracking_code": shipment.tracking_code,
            "event_key": event.event_key,
            "status": event.status.value,
            "carrier_code": event.carrier_code[:16] if event.carrier_code else None,
            "description": event.description[:_MAX_DESCRIPTION_CHARS],
            "location": event.location[:_MAX_LOCATION_CHARS] if event.location else None,
            "occurred_at": event.occurred_at,
            "source": source,
            "created_by_id": actor_id,
        }
        for event in events
    ]
    statement = (
        insert(TrackingEvent)
        .values(rows)
        .on_conflict_do_nothing(constraint="uq_tracking_events_purchase_event")
        .returning(TrackingEvent.id)
    )
    new_ids = set((await session.scalars(statement)).all())
    if not new_ids:
        return []
    inserted = list(
        (
            await session.scalars(
                select(TrackingEvent)
                .where(TrackingEvent.id.in_(new_ids))
                .order_by(TrackingEvent.occurred_at, TrackingEvent.event_key)
            )
        ).all()
    )

    previous_last_event_at = shipment.last_event_at
    _advance_status(shipment, inserted, now=now)
    logger.info(
        "tracking.events_recorded",
        purchase_id=str(shipment.purchase_id),
        new_events=len(inserted),
        status=shipment.status,
        source=source,
    )
    await effects.announce_events(
        session,
        buyer_id=purchase.buyer_id,
        seller_id=purchase.seller_id,
        shipment=shipment,
        events=inserted,
        previous_last_event_at=previous_last_event_at,
    )

    delivered = next(
        (event for event in inserted if event.status == TrackingStatus.DELIVERED), None
    )
    if delivered is not None:
        await purchases_service.mark_delivered_by_carrier(
            session, purchase_id=shipment.purchase_id, occurred_at=delivered.occurred_at
        )
    return inserted


def _advance_status(
    shipment: TrackingShipment, inserted: Sequence[TrackingEvent], *, now: datetime
) -> None:
    if shipment.finished_at is not None:
        return
    newest = max(inserted, key=lambda event: event.occurred_at)
    if shipment.last_event_at is not None and newest.occurred_at < shipment.last_event_at:
        return
    shipment.status = newest.status
    shipment.last_event_at = newest.occurred_at
    shipment.not_found_since = None
    if TrackingStatus(newest.status) in FINAL_STATUSES:
        shipment.finished_at = now

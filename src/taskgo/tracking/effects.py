"""Side effects of new tracking events: realtime updates, pushes and admin alerts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.i18n import Label
from taskgo.realtime import emit_after_commit, user_room
from taskgo.tracking.correios_events import map_carrier_code
from taskgo.tracking.models import TrackingEvent, TrackingShipment
from taskgo.tracking.statuses import MAJOR_STATUSES, TrackingStatus
from taskgo.users.models import Role, User

logger = structlog.get_logger(__name__)

TRACKING_UPDATE_EVENT = "tracking_update"
# The event's description is sent in the push data, and FCM rejects a push whose payload
# is over 4096 bytes. SRO's descriptions are a short sentence, well under this cut.
MAX_DATA_DESCRIPTION_CHARS = 500
# FCM measures the JSON encoding, where a character takes up to six bytes ("\u0001"). A
# description typed by a seller may be 500 such characters, and the body (up to 240 of
# them) and the other fields also need room, so the description gets at most this many.
MAX_DATA_DESCRIPTION_BYTES = 1000


def data_description(description: str) -> str:
    """Cut ``description`` to the characters and JSON bytes the push data can carry."""
    shortened = description[:MAX_DATA_DESCRIPTION_CHARS]
    # The encoding has two quotes around the text, which are not part of it.
    if len(orjson.dumps(shortened)) - 2 <= MAX_DATA_DESCRIPTION_BYTES:
        return shortened

    used = 0
    for index, character in enumerate(shortened):
        used += len(orjson.dumps(character)) - 2
        if used > MAX_DATA_DESCRIPTION_BYTES:
            return shortened[:index]
    return shortened


def event_payload(purchase_id: uuid.UUID, event: TrackingEvent) -> dict[str, object]:
    """Body of a ``tracking_update`` Socket.IO event."""
    return {
        "purchaseId": str(purchase_id),
        "trackingCode": event.tracking_code,
        "status": event.status,
        "description": event.description,
        "location": event.location,
        # Same form as the HTTP timeline (pydantic writes UTC as "Z").
        "occurredAt": event.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


async def announce_events(
    session: AsyncSession,
    *,
    buyer_id: uuid.UUID,
    seller_id: uuid.UUID,
    shipment: TrackingShipment,
    events: Sequence[TrackingEvent],
    previous_last_event_at: datetime | None,
) -> None:
    """Emit every new event to buyer and seller, and push the newest major one.

    One push per batch of events: a first poll that finds five events notifies once. An
    event older than what the shipment already showed (a late, partial response) is
    emitted for the timeline but never pushed.
    """
    participants = [buyer_id, seller_id]
    rooms = [user_room(user_id) for user_id in participants]
    for event in events:
        emit_after_commit(
            session, TRACKING_UPDATE_EVENT, event_payload(shipment.purchase_id, event), room=rooms
        )

    fresh_major = [
        event
        for event in events
        if TrackingStatus(event.status) in MAJOR_STATUSES
        and (previous_last_event_at is None or event.occurred_at >= previous_last_event_at)
    ]
    if fresh_major:
        newest = fresh_major[-1]
        # On delivery the purchases domain already notifies the buyer, with the release date.
        recipients = [seller_id] if newest.status == TrackingStatus.DELIVERED else participants
        await _push_event(session, user_ids=recipients, shipment=shipment, event=newest)

    returned = next((e for e in events if e.status == TrackingStatus.RETURNED), None)
    if returned is not None:
        await notify_admins(
            session,
            kind="tracking_returned",
            title_key="admin.tracking_returned.title",
            body_key="admin.tracking_returned.body",
            params={"code": shipment.tracking_code, "purchase_id": str(shipment.purchase_id)},
            data={"purchaseId": str(shipment.purchase_id)},
        )


@dataclass(frozen=True, slots=True)
class PushText:
    """Catalog keys, parameters and data of one tracking push."""

    title_key: str
    body_key: str
    params: dict[str, object]
    data: dict[str, str]


def status_label_key(event: TrackingEvent) -> str | None:
    """Return the catalog key of the status label that names the event, or ``None``.

    A manual event's status was picked by a person, so it always has a label. A Correios
    event has one when its family and type are in the SRO table. An unknown event was
    stored as in transit only by default, and only the carrier's description states what
    happened.
    """
    if event.carrier_code is not None and map_carrier_code(event.carrier_code) is None:
        return None
    return f"tracking.status.{event.status}"


def push_text(shipment: TrackingShipment, event: TrackingEvent) -> PushText:
    """Build the push and in-app texts of an event from catalog keys.

    Each recipient reads the status label in their own language. The event's description
    is free text (SRO's Portuguese wording, or what a seller typed), so it goes into the
    data as extra detail, and into the body only for an event without a label.
    """
    label_key = status_label_key(event)
    # A seller may type only blanks, which would show as an empty "( )" in the body.
    location = (event.location or "").strip()
    description = event.description.strip()
    params: dict[str, object] = {"code": shipment.tracking_code, "location": location}
    if label_key is None and description:
        body_key = "push.tracking_update.body"
        params["description"] = description
    else:
        body_key = "push.tracking_update.status"
        params["status"] = Label(label_key or f"tracking.status.{event.status}")
    if location:
        body_key += "_with_location"

    return PushText(
        title_key=f"push.tracking.{event.status}.title",
        body_key=body_key,
        params=params,
        data={
            "purchaseId": str(shipment.purchase_id),
            "status": event.status,
            "description": data_description(event.description),
        },
    )


async def _push_event(
    session: AsyncSession,
    *,
    user_ids: list[uuid.UUID],
    shipment: TrackingShipment,
    event: TrackingEvent,
) -> None:
    from taskgo.notifications.service import notify

    text = push_text(shipment, event)
    await notify(
        session,
        user_ids=user_ids,
        kind="tracking_update",
        title_key=text.title_key,
        body_key=text.body_key,
        params=text.params,
        data=text.data,
    )


async def warn_seller_not_found(
    session: AsyncSession, *, seller_id: uuid.UUID, shipment: TrackingShipment
) -> None:
    from taskgo.notifications.service import notify

    await notify(
        session,
        user_id=seller_id,
        kind="tracking_not_found",
        title_key="push.tracking_not_found.title",
        body_key="push.tracking_not_found.body",
        params={"code": shipment.tracking_code},
        data={"purchaseId": str(shipment.purchase_id)},
    )


async def notify_admins(
    session: AsyncSession,
    *,
    kind: str,
    title_key: str,
    body_key: str,
    params: dict[str, object],
    data: dict[str, str],
) -> int:
    """Send one notification to every admin; return how many admins were notified."""
    admin_ids = list(
        (await session.scalars(select(User.id).where(User.role == Role.ADMIN.value))).all()
    )
    if not admin_ids:
        logger.warning("tracking.no_admin_to_alert", kind=kind)
        return 0
    from taskgo.notifications.service import notify

    await notify(
        session,
        user_ids=admin_ids,
        kind=kind,
        title_key=title_key,
        body_key=body_key,
        params=params,
        data=data,
    )
    return len(admin_ids)

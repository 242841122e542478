"""Glue between the poll loop and the database: which shipments to poll, what to store.

A shipment is polled while its purchase is ``shipped`` and the carrier has not reported
a final status. Whatever SRO returns, a poll only adds events: "not found", messages,
partial responses and failures never change the purchase or remove anything.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.db.session import session_scope
from taskgo.purchases.models import Purchase, PurchaseStatus
from taskgo.tracking import effects, service
from taskgo.tracking.client import (
    CorreiosClient,
    CorreiosCredentials,
    TrackedObject,
    TrackingAnswer,
)
from taskgo.tracking.models import TrackingShipment
from taskgo.tracking.poller import PollReport, PollTarget, ShipmentPoller, TargetsByCode
from taskgo.tracking.ratelimit import AsyncRateLimiter
from taskgo.tracking.settings import TrackingSettings, get_tracking_settings

logger = structlog.get_logger(__name__)

_MAX_MESSAGE_CHARS = 300
# Carrier events dated more than this after the poll are skipped as clock errors or bad data.
_MAX_FUTURE = timedelta(days=1)


async def list_targets(session: AsyncSession, now: datetime) -> list[PollTarget]:
    """Create missing shipment rows, then list the shipments to poll, least recent first."""
    unsynced = await session.scalars(
        select(Purchase)
        .outerjoin(TrackingShipment, TrackingShipment.purchase_id == Purchase.id)
        .where(
            Purchase.status == PurchaseStatus.SHIPPED,
            Purchase.tracking_code.is_not(None),
            or_(
                TrackingShipment.id.is_(None),
                and_(
                    TrackingShipment.tracking_code != Purchase.tracking_code,
                    TrackingShipment.finished_at.is_(None),
                ),
            ),
        )
    )
    for purchase in list(unsynced.all()):
        await service.ensure_shipment(session, purchase=purchase)

    rows = await session.execute(
        select(TrackingShipment.id, TrackingShipment.purchase_id, TrackingShipment.tracking_code)
        .join(Purchase, Purchase.id == TrackingShipment.purchase_id)
        .where(
            Purchase.status == PurchaseStatus.SHIPPED,
            TrackingShipment.finished_at.is_(None),
        )
        .order_by(TrackingShipment.last_polled_at.asc().nulls_first(), TrackingShipment.id)
    )
    return [
        PollTarget(shipment_id=row.id, purchase_id=row.purchase_id, tracking_code=row.tracking_code)
        for row in rows
    ]


async def apply_answer(
    session: AsyncSession, by_code: TargetsByCode, answer: TrackingAnswer, now: datetime
) -> int:
    """Store one batch's results; return how many new events were stored."""
    new_events = 0
    for code, targets in by_code.items():
        tracked = answer.objects.get(code)
        if tracked is None:
            # Partial response: the shipment is polled again in the next run.
            continue
        for target in targets:
            new_events += await _apply_object(session, target=target, tracked=tracked, now=now)
    return new_events


async def _apply_object(
    session: AsyncSession, *, target: PollTarget, tracked: TrackedObject, now: datetime
) -> int:
    shipment = await session.get(
        TrackingShipment,
        target.shipment_id,
        with_for_update=True,
        populate_existing=True,
    )
    purchase = await session.get(Purchase, target.purchase_id)
    if shipment is None or purchase is None:
        return 0
    if shipment.tracking_code != tracked.code or shipment.finished_at is not None:
        # The seller changed the code, or a manual event finished it, during the request.
        return 0

    shipment.last_polled_at = now
    if tracked.events:
        events = [event for event in tracked.events if event.occurred_at <= now + _MAX_FUTURE]
        if len(events) < len(tracked.events):
            # A time far ahead would stay the latest event for good and freeze the status.
            logger.warning(
                "tracking.poll.future_event_skipped",
                shipment_id=str(shipment.id),
                skipped=len(tracked.events) - len(events),
            )
        if not events:
            return 0
        shipment.last_carrier_message = None
        inserted = await service.record_events(
            session,
            shipment=shipment,
            purchase=purchase,
            events=events,
            source="correios",
            now=now,
        )
        return len(inserted)

    shipment.last_carrier_message = (tracked.message or "")[:_MAX_MESSAGE_CHARS] or None
    if tracked.not_found:
        await _handle_not_found(session, shipment=shipment, purchase=purchase, now=now)
    else:
        logger.warning(
            "tracking.poll.carrier_message",
            purchase_id=str(purchase.id),
            shipment_id=str(shipment.id),
            message=shipment.last_carrier_message,
        )
    return 0


async def _handle_not_found(
    session: AsyncSession, *, shipment: TrackingShipment, purchase: Purchase, now: datetime
) -> None:
    """Warn the seller once when SRO still does not know a parcel after the grace period.

    Correios often registers a parcel hours after it is handed in, so an early "not
    found" is expected. It never cancels the purchase.
    """
    if shipment.status is not None:
        # SRO reported events before; a later "not found" is a glitch on its side.
        return
    if shipment.not_found_since is None:
        shipment.not_found_since = now
    grace = timedelta(hours=get_tracking_settings().tracking_not_found_grace_hours)
    shipped_at = purchase.shipped_at or shipment.created_at
    if shipment.not_found_warned_at is None and now - shipped_at >= grace:
        shipment.not_found_warned_at = now
        logger.warning(
            "tracking.poll.still_not_found",
            purchase_id=str(purchase.id),
            shipment_id=str(shipment.id),
        )
        await effects.warn_seller_not_found(
            session, seller_id=purchase.seller_id, shipment=shipment
        )


async def alert_admins(session: AsyncSession, failures: int, error: str) -> None:
    await effects.notify_admins(
        session,
        kind="tracking_poll_failing",
        title_key="admin.tracking_poll_failing.title",
        body_key="admin.tracking_poll_failing.body",
        params={"failures": failures, "error": error},
        data={"failures": str(failures)},
    )


class _ClientHolder:
    client: CorreiosClient | None = None
    signature: tuple[object, ...] | None = None


_holder = _ClientHolder()


def correios_client(settings: TrackingSettings) -> CorreiosClient:
    """Return the process's Correios client, so its token and rate limiter are shared."""
    signature = (
        settings.resolved_correios_base_url,
        settings.correios_user,
        settings.correios_access_code.get_secret_value(),
        settings.correios_postal_card,
        settings.tracking_requests_per_second,
        settings.tracking_request_burst,
        settings.correios_timeout_seconds,
    )
    if _holder.client is None or _holder.signature != signature:
        _holder.client = CorreiosClient(
            base_url=settings.resolved_correios_base_url,
            credentials=CorreiosCredentials(
                user=settings.correios_user,
                access_code=settings.correios_access_code.get_secret_value(),
                postal_card=settings.correios_postal_card,
            ),
            rate_limiter=AsyncRateLimiter(
                rate=settings.tracking_requests_per_second, burst=settings.tracking_request_burst
            ),
            timeout=settings.correios_timeout_seconds,
        )
        _holder.signature = signature
    return _holder.client


async def close_correios_client() -> None:
    client = _holder.client
    _holder.client = None
    _holder.signature = None
    if client is not None:
        await client.aclose()


async def run_poll(
    settings: TrackingSettings, *, client: CorreiosClient | None = None
) -> PollReport:
    """Run one poll over every shipped, undelivered purchase."""

    poller = ShipmentPoller(
        client=client or correios_client(settings),
        settings=settings,
        session_factory=session_scope,
        list_targets=list_targets,
        apply_answer=apply_answer,
        on_alert=alert_admins,
        clock=lambda: datetime.now(UTC),
        sleep=asyncio.sleep,
    )
    return await poller.run()

"""HTTP routes: the purchase's tracking timeline, and manual events and demo steps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from taskgo.auth.deps import CurrentUser
from taskgo.db.session import DbSession
from taskgo.errors import AppError
from taskgo.idempotency import IdempotencyKey, claim, remember
from taskgo.purchases.models import Purchase
from taskgo.tracking import manual, service
from taskgo.tracking.schemas import ManualEventIn, TrackingOut

router = APIRouter(prefix="/api", tags=["tracking"])


@router.get("/purchases/{purchase_id}/tracking", response_model=TrackingOut)
async def get_tracking(
    purchase_id: uuid.UUID, user: CurrentUser, session: DbSession
) -> TrackingOut:
    """Return the tracking code, the current status and every event, oldest first."""
    timeline = await service.get_timeline(session, purchase_id=purchase_id, user=user)
    return TrackingOut.of(timeline)


async def _timeline_body(session: DbSession, *, purchase: Purchase) -> dict[str, object]:
    timeline = await service.timeline_of(session, purchase=purchase)
    return TrackingOut.of(timeline).model_dump(mode="json")


@router.post(
    "/purchases/{purchase_id}/tracking/events",
    response_model=TrackingOut,
    status_code=status.HTTP_201_CREATED,
)
async def add_tracking_event(
    purchase_id: uuid.UUID,
    body: ManualEventIn,
    user: CurrentUser,
    session: DbSession,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Add an event by hand: the seller when tracking is manual, an admin always."""
    claimed = await claim(
        session,
        user_id=user.id,
        scope=f"tracking.events:{purchase_id}",
        key=idempotency_key,
        payload=body.model_dump(mode="json"),
    )
    if claimed.replay:
        return claimed.replay

    occurred_at = body.occurred_at
    if occurred_at is not None and occurred_at.tzinfo is None:
        raise AppError("tracking.event_time_without_offset", field="occurredAt")
    result = await manual.add_manual_event(
        session,
        purchase_id=purchase_id,
        actor=user,
        status=body.status,
        description=body.description,
        location=body.location,
        occurred_at=occurred_at,
        now=datetime.now(UTC),
    )
    payload = await _timeline_body(session, purchase=result.purchase)
    await remember(session, claimed, status_code=201, body=payload)
    return JSONResponse(payload, status_code=201)


@router.post("/purchases/{purchase_id}/tracking/advance", response_model=TrackingOut)
async def advance_tracking(
    purchase_id: uuid.UUID,
    user: CurrentUser,
    session: DbSession,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Move the shipment to its next usual step, for demos and manual tracking."""
    claimed = await claim(
        session,
        user_id=user.id,
        scope=f"tracking.advance:{purchase_id}",
        key=idempotency_key,
        payload={},
    )
    if claimed.replay:
        return claimed.replay

    result = await manual.advance_demo(
        session, purchase_id=purchase_id, actor=user, now=datetime.now(UTC)
    )
    payload = await _timeline_body(session, purchase=result.purchase)
    await remember(session, claimed, status_code=200, body=payload)
    return JSONResponse(payload, status_code=200)

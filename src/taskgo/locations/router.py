"""HTTP routes for GPS updates and the user's own location history."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from taskgo.auth.deps import CurrentUser
from taskgo.db.session import DbSession
from taskgo.geo.schemas import CityOut
from taskgo.geo.service import get_city
from taskgo.idempotency import IdempotencyKey, claim, remember
from taskgo.locations import service
from taskgo.locations.schemas import LocationStayOut, LocationUpdateIn, LocationUpdateOut
from taskgo.pagination import Cursor, Limit, Page

router = APIRouter(prefix="/api/locations", tags=["locations"])


@router.post("/update", response_model=LocationUpdateOut)
async def update_location(
    body: LocationUpdateIn,
    user: CurrentUser,
    session: DbSession,
    idempotency_key: IdempotencyKey = None,
) -> LocationUpdateOut | JSONResponse:
    """Record a GPS fix; `changed` is true when it moved the user to another city.

    With an `Idempotency-Key`, a retried request gets the first response back (its
    `changed: true` included) instead of being recorded as a second fix.
    """
    claimed = await claim(
        session,
        user_id=user.id,
        scope="locations.update",
        key=idempotency_key,
        payload=body.model_dump(mode="json"),
    )
    if claimed.replay:
        return claimed.replay
    city, changed = await service.record_fix(
        session, user=user, lat=body.lat, lng=body.lng, accuracy=body.accuracy
    )
    result = LocationUpdateOut(city=CityOut.of(city), changed=changed)
    await remember(session, claimed, status_code=200, body=result.model_dump(mode="json"))
    return result


@router.get("/history", response_model=Page[LocationStayOut])
async def location_history(
    user: CurrentUser, session: DbSession, cursor: Cursor = None, limit: Limit = 20
) -> Page[LocationStayOut]:
    """Return the caller's own stays per city, newest first."""
    rows, next_cursor = await service.list_history(
        session, user_id=user.id, cursor=cursor, limit=limit
    )
    items = []
    for row in rows:
        city = get_city(row.city_id)
        assert city is not None, "every cities row comes from the shipped data"
        items.append(
            LocationStayOut(
                city=CityOut.of(city),
                entered_at=row.entered_at,
                exited_at=row.exited_at,
                is_current=row.is_current,
                last_seen_at=row.last_seen_at,
            )
        )
    return Page[LocationStayOut](items=items, next_cursor=next_cursor)

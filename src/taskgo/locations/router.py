"""HTTP routes for GPS updates and the user's own location history."""

from __future__ import annotations

from fastapi import APIRouter

from taskgo.auth.deps import CurrentUser
from taskgo.db.session import DbSession
from taskgo.geo.schemas import CityOut
from taskgo.geo.service import get_city
from taskgo.locations import service
from taskgo.locations.schemas import LocationStayOut, LocationUpdateIn, LocationUpdateOut
from taskgo.pagination import Cursor, Limit, Page

router = APIRouter(prefix="/api/locations", tags=["locations"])


@router.post("/update", response_model=LocationUpdateOut)
async def update_location(
    body: LocationUpdateIn, user: CurrentUser, session: DbSession
) -> LocationUpdateOut:
    """Record a GPS fix; `changed` is true when it moved the user to another city."""
    city, changed = await service.record_fix(
        session, user=user, lat=body.lat, lng=body.lng, accuracy=body.accuracy
    )
    return LocationUpdateOut(city=CityOut.of(city), changed=changed)


@router.get("/history", response_model=Page[LocationStayOut])
async def location_history(
    user: CurrentUser, session: DbSession, cursor: Cursor = None, limit: Limit = 20
) -> Page[LocationStayOut]:
    """The caller's own stays per city, newest first."""
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

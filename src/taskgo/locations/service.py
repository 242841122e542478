"""Record GPS fixes: keep one current stay per user and move it when the city changes."""

from __future__ import annotations

import uuid
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from taskgo.config import get_settings
from taskgo.db.session import driver_connection
from taskgo.geo.dataset import CityRef
from taskgo.geo.haversine import haversine_km
from taskgo.geo.service import get_city, resolve_city_with_distance
from taskgo.jobs import enqueue
from taskgo.locations.models import UserLocation
from taskgo.locations.switching import Fix, Stay, SwitchPolicy, decide
from taskgo.pagination import apply_keyset, page_of
from taskgo.users.models import Role, User

log = structlog.get_logger(__name__)

# Named seam with the service-orders domain: it announces the open orders of the new city.
ANNOUNCE_TASK = "service_orders.announce_city_orders"


def switch_policy() -> SwitchPolicy:
    settings = get_settings()
    return SwitchPolicy(
        max_accuracy_m=settings.location_max_accuracy_m,
        margin_km=settings.location_switch_margin_km,
        confirmations=settings.location_switch_confirmations,
    )


# The statements of a fix, in the order they run, sent to asyncpg directly: every product
# listing records a fix, and the ORM, then SQLAlchemy's statement layer, cost more CPU than
# the database. bench/products_bare.py runs the same text.
#
# The user row is updated first: that takes its lock. clock_timestamp() is evaluated after a
# wait for that lock, so a fix that waited for another one gets a later time and stays of one
# user never overlap.
_TOUCH_USER = (
    "UPDATE users SET last_seen_at = clock_timestamp(), updated_at = clock_timestamp() "
    "WHERE users.id = $1 RETURNING users.last_seen_at"
)
# $1 lat, $2 lng, $3 accuracy, $4 now, $5 user id, $6 city id.
_REFRESH_SAME_CITY_STAY = (
    "UPDATE user_locations SET last_lat = $1, last_lng = $2, last_accuracy_m = $3, "
    "last_seen_at = $4, updated_at = $4, fix_count = user_locations.fix_count + 1, "
    "pending_city_id = NULL, pending_count = 0 "
    "WHERE user_locations.user_id = $5 AND user_locations.is_current "
    "AND user_locations.city_id = $6 RETURNING user_locations.id"
)
_CURRENT_STAY = (
    "SELECT id, city_id, pending_city_id, pending_count FROM user_locations "
    "WHERE user_id = $1 AND is_current"
)
# $1 stay id, $2 now, $3 pending city id, $4 pending count.
_KEEP_STAY = (
    "UPDATE user_locations SET last_seen_at = $2, updated_at = $2, "
    "pending_city_id = $3, pending_count = $4 WHERE id = $1"
)
# $1 stay id, $2 now.
_CLOSE_STAY = (
    "UPDATE user_locations SET is_current = false, exited_at = $2, updated_at = $2, "
    "pending_city_id = NULL, pending_count = 0 WHERE id = $1"
)
# $1 stay id, $2 user id, $3 city id, $4 now, $5 lat, $6 lng, $7 accuracy.
_OPEN_STAY = (
    "INSERT INTO user_locations (id, user_id, city_id, is_current, entered_at, last_lat, "
    "last_lng, last_accuracy_m, last_seen_at, fix_count, pending_count, created_at, updated_at) "
    "VALUES ($1, $2, $3, true, $4, $5, $6, $7, $4, 1, 0, $4, $4)"
)
_MOVE_USER = "UPDATE users SET current_city_id = $2 WHERE id = $1"


async def record_fix(
    session: AsyncSession, *, user: User, lat: float, lng: float, accuracy: float | None
) -> tuple[CityRef, bool]:
    """Record a GPS fix of `user` and return (their city after it, whether it changed).

    Raises 422 `location.outside_coverage` when no seat is in range. Runs inside the
    caller's transaction. The first statement updates the user row, which locks it, so
    concurrent fixes of one user apply one after the other and never open two current stays.
    Every path locks the stay row after the user row, so two fixes of one user cannot
    deadlock each other.

    A fix in the city of the current stay, the common case of a client browsing, costs two
    statements: the user update and a stay update that matches only that city. Anything else
    reads the stay and applies the switching rule.
    """
    resolved, seat_distance_km = resolve_city_with_distance(lat, lng)
    city_id = resolved.ibge_code

    driver = await driver_connection(session)
    now: datetime = await driver.fetchval(_TOUCH_USER, user.id)
    set_committed_value(user, "last_seen_at", now)
    set_committed_value(user, "updated_at", now)
    refreshed = await driver.fetchval(
        _REFRESH_SAME_CITY_STAY, lat, lng, accuracy, now, user.id, city_id
    )
    if refreshed is not None:
        return resolved, False

    current = await driver.fetchrow(_CURRENT_STAY, user.id)
    current_city = get_city(current["city_id"]) if current is not None else None
    stay: Stay | None = None
    current_distance_km = float("inf")
    if current is not None and current_city is not None:
        stay = Stay(current["city_id"], current["pending_city_id"], current["pending_count"])
        current_distance_km = haversine_km(lat, lng, current_city.lat, current_city.lng)

    fix = Fix(city_id, seat_distance_km, current_distance_km, accuracy)
    decision = decide(stay, fix, switch_policy())

    if not decision.switched:
        assert current is not None and current_city is not None
        await driver.execute(
            _KEEP_STAY, current["id"], now, decision.pending_city_id, decision.pending_count
        )
        return current_city, False

    if current is not None:
        # The partial unique index allows one current row: close this one before the insert.
        await driver.execute(_CLOSE_STAY, current["id"], now)
    await driver.execute(_OPEN_STAY, uuid.uuid4(), user.id, city_id, now, lat, lng, accuracy)
    await driver.execute(_MOVE_USER, user.id, city_id)
    set_committed_value(user, "current_city_id", city_id)

    log.info(
        "location.city_changed",
        user_id=str(user.id),
        from_city_id=current["city_id"] if current is not None else None,
        to_city_id=city_id,
        outcome=decision.outcome.value,
    )
    if user.role == Role.PARTNER:
        await enqueue(session, ANNOUNCE_TASK, partner_id=str(user.id), city_id=resolved.ibge_code)
    return resolved, True


async def list_history(
    session: AsyncSession, *, user_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[UserLocation], str | None]:
    """Return the user's own stays, newest first, keyset-paginated on (created_at, id)."""
    query = apply_keyset(
        # Fixes write stays with plain SQL: refresh any copy this session already holds.
        select(UserLocation)
        .where(UserLocation.user_id == user_id)
        .execution_options(populate_existing=True),
        created_at=UserLocation.created_at,
        row_id=UserLocation.id,
        cursor=cursor,
        limit=limit,
    )
    rows = list((await session.scalars(query)).all())
    return page_of(rows, limit=limit, key=lambda row: (row.created_at, row.id))

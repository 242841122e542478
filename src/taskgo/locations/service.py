"""Record GPS fixes: keep one current stay per user and move it when the city changes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from taskgo.config import get_settings
from taskgo.geo.dataset import CityRef
from taskgo.geo.haversine import haversine_km
from taskgo.geo.service import get_city, resolve_city_with_distance
from taskgo.jobs import enqueue
from taskgo.locations.models import UserLocation
from taskgo.locations.switching import Decision, Fix, Outcome, Stay, SwitchPolicy, decide
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


async def record_fix(
    session: AsyncSession, *, user: User, lat: float, lng: float, accuracy: float | None
) -> tuple[CityRef, bool]:
    """Record a GPS fix of `user` and return (their city after it, whether it changed).

    Raises 422 `location.outside_coverage` when no seat is in range. Runs inside the
    caller's transaction and only flushes: the user row is locked first, so concurrent
    fixes of one user apply one after the other and never open two current stays.
    """
    resolved, seat_distance_km = resolve_city_with_distance(lat, lng)

    await session.execute(select(User.id).where(User.id == user.id).with_for_update())
    # Read the clock only once the lock is held, so stays of one user never overlap.
    now = datetime.now(UTC)
    current = await session.scalar(
        select(UserLocation)
        .where(UserLocation.user_id == user.id, UserLocation.is_current.is_(True))
        .execution_options(populate_existing=True)
    )

    stay: Stay | None = None
    current_city: CityRef | None = None
    if current is not None:
        current_city = get_city(current.city_id)
    if current is not None and current_city is not None:
        stay = Stay(current.city_id, current.pending_city_id, current.pending_count)
        current_distance_km = haversine_km(lat, lng, current_city.lat, current_city.lng)
    else:
        current_distance_km = float("inf")

    fix = Fix(resolved.ibge_code, seat_distance_km, current_distance_km, accuracy)
    decision = decide(stay, fix, switch_policy())
    user.last_seen_at = now

    if not decision.switched:
        assert current is not None and current_city is not None
        _apply_to_stay(current, decision, lat=lat, lng=lng, accuracy=accuracy, now=now)
        await session.flush()
        return current_city, False

    if current is not None:
        current.is_current = False
        current.exited_at = now
        current.pending_city_id = None
        current.pending_count = 0
        # The partial unique index allows one current row: close this one before the insert.
        await session.flush()

    session.add(
        UserLocation(
            user_id=user.id,
            city_id=resolved.ibge_code,
            is_current=True,
            entered_at=now,
            # Set from the clock, not the transaction start, so history orders by real time.
            created_at=now,
            last_lat=lat,
            last_lng=lng,
            last_accuracy_m=accuracy,
            last_seen_at=now,
            fix_count=1,
            pending_count=0,
        )
    )
    previous_city_id = current.city_id if current is not None else None
    # An explicit UPDATE: `user` was loaded before the lock, and the ORM skips writing a
    # value equal to that stale copy even when a concurrent request has changed the row.
    await session.execute(
        update(User).where(User.id == user.id).values(current_city_id=resolved.ibge_code)
    )
    set_committed_value(user, "current_city_id", resolved.ibge_code)
    await session.flush()

    log.info(
        "location.city_changed",
        user_id=str(user.id),
        from_city_id=previous_city_id,
        to_city_id=resolved.ibge_code,
        outcome=decision.outcome.value,
    )
    if user.role == Role.PARTNER:
        await enqueue(session, ANNOUNCE_TASK, partner_id=str(user.id), city_id=resolved.ibge_code)
    return resolved, True


def _apply_to_stay(
    current: UserLocation,
    decision: Decision,
    *,
    lat: float,
    lng: float,
    accuracy: float | None,
    now: datetime,
) -> None:
    current.last_seen_at = now
    current.pending_city_id = decision.pending_city_id
    current.pending_count = decision.pending_count
    if decision.outcome == Outcome.SAME_CITY:
        # A ping in the same city refreshes the stay instead of adding a row.
        current.last_lat = lat
        current.last_lng = lng
        current.last_accuracy_m = accuracy
        current.fix_count += 1


async def list_history(
    session: AsyncSession, *, user_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[UserLocation], str | None]:
    """Return the user's own stays, newest first, keyset-paginated on (created_at, id)."""
    query = apply_keyset(
        select(UserLocation).where(UserLocation.user_id == user_id),
        created_at=UserLocation.created_at,
        row_id=UserLocation.id,
        cursor=cursor,
        limit=limit,
    )
    rows = list((await session.scalars(query)).all())
    return page_of(rows, limit=limit, key=lambda row: (row.created_at, row.id))

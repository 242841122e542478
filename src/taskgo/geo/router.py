"""HTTP route that turns a GPS fix into its municipality."""

from __future__ import annotations

from fastapi import APIRouter

from taskgo.auth.deps import CurrentUser
from taskgo.geo.schemas import CityResolveOut, Latitude, Longitude
from taskgo.geo.service import resolve_city_with_distance

router = APIRouter(prefix="/api/cities", tags=["cities"])


@router.get("/resolve", response_model=CityResolveOut)
async def resolve(lat: Latitude, lng: Longitude, user: CurrentUser) -> CityResolveOut:
    """The municipality whose seat is nearest to (lat, lng), within the configured range.

    422 `location.outside_coverage` when no seat is in range (at sea, abroad, or a swapped
    or sign-dropped pair).
    """
    city, distance_km = resolve_city_with_distance(lat, lng)
    return CityResolveOut.resolved(city, distance_km=distance_km)

"""Municipality lookups for the other domains: by IBGE code and by GPS fix."""

from __future__ import annotations

import threading
import time

import structlog

from taskgo.config import get_settings
from taskgo.errors import AppError
from taskgo.geo.dataset import CityRef, cities_by_code, load_cities
from taskgo.geo.index import NearestSeatIndex

__all__ = [
    "CityRef",
    "get_city",
    "get_index",
    "nearest_city",
    "resolve_city",
    "resolve_city_with_distance",
]

log = structlog.get_logger(__name__)

_index: NearestSeatIndex | None = None
_index_lock = threading.Lock()


def get_index() -> NearestSeatIndex:
    """Return the process-wide nearest-seat index, building it on first use."""
    global _index
    if _index is None:
        with _index_lock:
            if _index is None:
                started = time.perf_counter()
                cities = load_cities()
                _index = NearestSeatIndex([(city.lat, city.lng) for city in cities])
                log.info(
                    "geo.index_built",
                    cities=len(cities),
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                )
    return _index


def get_city(ibge_code: int) -> CityRef | None:
    return cities_by_code().get(ibge_code)


def nearest_city(
    lat: float, lng: float, *, max_km: float | None = None
) -> tuple[CityRef, float] | None:
    """The municipality whose seat is nearest to (lat, lng) and its distance in km, if any
    seat lies within `max_km` (default: the `geo_max_distance_km` setting)."""
    limit = get_settings().geo_max_distance_km if max_km is None else max_km
    found = get_index().nearest(lat, lng, limit)
    if found is None:
        return None
    position, distance_km = found
    return load_cities()[position], distance_km


def resolve_city(lat: float, lng: float) -> CityRef:
    """The municipality of a GPS fix, or 422 `location.outside_coverage`.

    A point with no seat in range (at sea, abroad, or a swapped or sign-dropped pair) is an
    error, never a guess.
    """
    return resolve_city_with_distance(lat, lng)[0]


def resolve_city_with_distance(lat: float, lng: float) -> tuple[CityRef, float]:
    """Like `resolve_city`, also returning the distance to the seat in km."""
    found = nearest_city(lat, lng)
    if found is None:
        max_km = get_settings().geo_max_distance_km
        raise AppError(
            "location.outside_coverage", status=422, field="lat", max_distance_km=f"{max_km:g}"
        )
    return found

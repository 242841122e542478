"""The nearest-seat index: same results as a brute-force scan, and fast to build."""

from __future__ import annotations

import random
import time

import pytest

from taskgo.geo.dataset import load_cities
from taskgo.geo.haversine import haversine_km
from taskgo.geo.index import MAX_SEARCH_KM, NearestSeatIndex


@pytest.fixture(scope="module")
def seats() -> list[tuple[float, float]]:
    return [(city.lat, city.lng) for city in load_cities()]


@pytest.fixture(scope="module")
def index(seats: list[tuple[float, float]]) -> NearestSeatIndex:
    return NearestSeatIndex(seats)


def test_builds_in_under_a_second(seats: list[tuple[float, float]]) -> None:
    started = time.perf_counter()
    load_cities.cache_clear()
    fresh = [(city.lat, city.lng) for city in load_cities()]
    NearestSeatIndex(fresh)
    elapsed = time.perf_counter() - started

    print(f"\nload + build: {elapsed * 1000:.0f} ms for {len(fresh)} seats")
    assert elapsed < 1.0


def test_matches_brute_force(index: NearestSeatIndex, seats: list[tuple[float, float]]) -> None:
    rng = random.Random(20260)
    points = [(rng.uniform(-35.0, 7.0), rng.uniform(-76.0, -28.0)) for _ in range(400)]
    # Points near seats, where municipalities are densest and ties are likely.
    points += [
        (lat + rng.uniform(-0.05, 0.05), lng + rng.uniform(-0.05, 0.05))
        for lat, lng in rng.sample(seats, 400)
    ]

    for lat, lng in points:
        distance, position = min(
            (haversine_km(lat, lng, s_lat, s_lng), i) for i, (s_lat, s_lng) in enumerate(seats)
        )
        for max_km in (5.0, 50.0, 150.0):
            found = index.nearest(lat, lng, max_km)
            if distance > max_km:
                assert found is None, (lat, lng, max_km)
                continue
            assert found is not None, (lat, lng, max_km)
            assert found[0] == position, (lat, lng, max_km)
            assert found[1] == pytest.approx(distance, abs=1e-9)


def test_seat_point_is_its_own_city(
    index: NearestSeatIndex, seats: list[tuple[float, float]]
) -> None:
    for position in range(0, len(seats), 97):
        lat, lng = seats[position]
        found = index.nearest(lat, lng, 50)
        assert found is not None
        assert found[1] == 0.0


def test_radius_is_respected() -> None:
    index = NearestSeatIndex([(-25.0, -50.0)])
    # 0.4° of latitude is 44.5 km.
    assert index.nearest(-25.4, -50.0, 50) is not None
    assert index.nearest(-25.4, -50.0, 40) is None


def test_far_points_have_no_seat(index: NearestSeatIndex) -> None:
    assert index.nearest(0.0, 0.0, 50) is None  # Gulf of Guinea
    assert index.nearest(90.0, 180.0, 50) is None
    assert index.nearest(-53.4552, -24.9555, 50) is None  # Cascavel with lat/lng swapped
    assert index.nearest(24.9555, 53.4552, 50) is None  # Cascavel with signs dropped


def test_invalid_coordinates_have_no_seat(index: NearestSeatIndex) -> None:
    assert index.nearest(float("nan"), -53.4552, 50) is None
    assert index.nearest(-24.9555, float("inf"), 50) is None
    assert index.nearest(-91.0, -53.4552, 50) is None


def test_limit_above_grid_padding_rejected(index: NearestSeatIndex) -> None:
    with pytest.raises(ValueError):
        index.nearest(-25.0, -50.0, MAX_SEARCH_KM + 1)


def test_empty_index_rejected() -> None:
    with pytest.raises(ValueError):
        NearestSeatIndex([])

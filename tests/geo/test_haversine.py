"""Great-circle distances against known values."""

from __future__ import annotations

import math

import pytest

from taskgo.geo.haversine import EARTH_RADIUS_KM, haversine_km


def test_zero_distance() -> None:
    assert haversine_km(-24.9555, -53.4552, -24.9555, -53.4552) == 0.0


def test_one_degree_on_equator() -> None:
    assert haversine_km(0, 0, 0, 1) == pytest.approx(2 * math.pi * EARTH_RADIUS_KM / 360, rel=1e-12)


def test_cascavel_to_foz() -> None:
    # 131.6 km by air between the two test points.
    assert haversine_km(-24.9555, -53.4552, -25.5478, -54.5882) == pytest.approx(131.61, abs=0.01)


def test_antipodes_half_circumference() -> None:
    assert haversine_km(10, 20, -10, -160) == pytest.approx(math.pi * EARTH_RADIUS_KM, rel=1e-7)


def test_symmetric() -> None:
    assert haversine_km(-23.55, -46.63, -22.91, -43.17) == haversine_km(
        -22.91, -43.17, -23.55, -46.63
    )

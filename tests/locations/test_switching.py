"""The anti-flapping rule, as pure logic, including jittering traces across a border."""

from __future__ import annotations

import math
import random

import pytest

from taskgo.geo.haversine import haversine_km
from taskgo.locations.switching import Decision, Fix, Outcome, Stay, SwitchPolicy, decide

POLICY = SwitchPolicy(max_accuracy_m=1000.0, margin_km=2.0, confirmations=3)
A, B = 1, 2
# Two seats 20 km apart on the same parallel; the border is the meridian halfway.
SEATS = {A: (-25.0, -50.0), B: (-25.0, -50.0 + 20 / (111.195 * math.cos(math.radians(25.0))))}


def fix_at(lat: float, lng: float, accuracy_m: float | None, current: int) -> Fix:
    distances = {city: haversine_km(lat, lng, *seat) for city, seat in SEATS.items()}
    nearest = min(distances, key=lambda city: distances[city])
    return Fix(nearest, distances[nearest], distances[current], accuracy_m)


def test_first_fix_sets_city_whatever_the_accuracy() -> None:
    decision = decide(None, Fix(A, 0.5, math.inf, 5000.0), POLICY)

    assert decision.outcome == Outcome.FIRST_FIX
    assert decision.switched
    assert decision.city_id == A


def test_same_city_resets_pending() -> None:
    decision = decide(Stay(A, pending_city_id=B, pending_count=2), Fix(A, 1.0, 1.0, 10.0), POLICY)

    assert decision == Decision(Outcome.SAME_CITY, A, None, 0)


def test_inaccurate_fix_never_switches_and_keeps_run() -> None:
    stay = Stay(A, pending_city_id=B, pending_count=2)

    decision = decide(stay, Fix(B, 0.0, 120.0, 1000.1), POLICY)

    assert decision == Decision(Outcome.INACCURATE, A, B, 2)
    assert not decision.switched


def test_accuracy_at_limit_still_counts() -> None:
    decision = decide(Stay(A), Fix(B, 0.0, 120.0, 1000.0), POLICY)

    assert decision.outcome == Outcome.DECISIVE


def test_decisive_margin_grows_with_uncertainty() -> None:
    # 5 km nearer: enough with 100 m accuracy (needs 2.2 km), not with 1,000 m (needs 4 km)...
    assert decide(Stay(A), Fix(B, 10.0, 15.0, 100.0), POLICY).outcome == Outcome.DECISIVE
    assert decide(Stay(A), Fix(B, 10.0, 13.9, 1000.0), POLICY).outcome == Outcome.PENDING
    # ...and an unknown accuracy counts as 1 km.
    assert decide(Stay(A), Fix(B, 10.0, 13.9, None), POLICY).outcome == Outcome.PENDING
    assert decide(Stay(A), Fix(B, 10.0, 14.0, None), POLICY).outcome == Outcome.DECISIVE


def test_fix_near_halfway_line_breaks_run() -> None:
    stay = Stay(A, pending_city_id=B, pending_count=2)

    # 0.3 km nearer to B: inside B, but within the 0.5 km band where no run builds.
    close_call = decide(stay, Fix(B, 10.0, 10.3, 20.0), POLICY)
    # 1.5 km nearer but with 900 m accuracy: the user may still be in A.
    blurred = decide(stay, Fix(B, 10.0, 11.5, 900.0), POLICY)

    assert close_call == Decision(Outcome.UNCERTAIN, A, None, 0)
    assert blurred == Decision(Outcome.UNCERTAIN, A, None, 0)


def test_confirmations_switch_after_run() -> None:
    stay = Stay(A)
    outcomes = []
    for _ in range(3):
        decision = decide(stay, Fix(B, 10.0, 11.0, 20.0), POLICY)
        outcomes.append(decision.outcome)
        stay = Stay(decision.city_id, decision.pending_city_id, decision.pending_count)

    assert outcomes == [Outcome.PENDING, Outcome.PENDING, Outcome.CONFIRMED]
    assert stay.city_id == B


def test_run_broken_by_fix_in_current_city() -> None:
    stay = Stay(A)
    for city in (B, B, A, B, B):
        decision = decide(stay, Fix(city, 10.0, 11.0 if city == B else 10.0, 20.0), POLICY)
        stay = Stay(decision.city_id, decision.pending_city_id, decision.pending_count)

    assert stay == Stay(A, pending_city_id=B, pending_count=2)


def test_third_city_restarts_run() -> None:
    decision = decide(Stay(A, pending_city_id=B, pending_count=2), Fix(3, 10.0, 11.0, 20.0), POLICY)

    assert decision == Decision(Outcome.PENDING, A, 3, 1)


def noisy(lat: float, lng: float, radius_m: float, rng: random.Random) -> tuple[float, float]:
    """A point uniformly inside the accuracy circle around (lat, lng)."""
    distance_km = radius_m / 1000 * math.sqrt(rng.random())
    bearing = rng.uniform(0, 2 * math.pi)
    dlat = distance_km * math.cos(bearing) / 111.195
    dlng = distance_km * math.sin(bearing) / (111.195 * math.cos(math.radians(lat)))
    return lat + dlat, lng + dlng


def run_trace(points: list[tuple[float, float, float]]) -> tuple[int, int]:
    """Feed (lat, lng, accuracy) fixes from city A; return (city switches, final city)."""
    stay = Stay(A)
    switches = 0
    for lat, lng, accuracy in points:
        decision = decide(stay, fix_at(lat, lng, accuracy, stay.city_id), POLICY)
        switches += decision.switched
        stay = Stay(decision.city_id, decision.pending_city_id, decision.pending_count)
    return switches, stay.city_id


@pytest.mark.parametrize("seed", range(40))
def test_jittering_trace_across_border_changes_once(seed: int) -> None:
    rng = random.Random(seed)
    (a_lat, a_lng), (b_lat, b_lng) = SEATS[A], SEATS[B]
    points = []
    for step in range(240):
        # Walk slowly from 2 km inside A to 2 km inside B: 240 fixes, 17 m apart.
        t = 0.4 + 0.2 * step / 239
        true_lat, true_lng = a_lat + t * (b_lat - a_lat), a_lng + t * (b_lng - a_lng)
        accuracy = rng.choice([5.0, 15.0, 40.0, 120.0, 400.0, 900.0, 1500.0, 3000.0])
        if accuracy > 1000 and rng.random() < 0.5:
            # Cell-tower fixes land far off: deep in whichever city is on the other side.
            far = rng.uniform(-8.0, 8.0) / 111.195
            points.append((true_lat, true_lng + far, accuracy))
            continue
        points.append((*noisy(true_lat, true_lng, accuracy, rng), accuracy))

    switches, final_city = run_trace(points)

    assert switches <= 1
    assert final_city == B


@pytest.mark.parametrize("seed", range(20))
def test_standing_on_border_changes_at_most_once(seed: int) -> None:
    rng = random.Random(1000 + seed)
    (a_lat, a_lng), (b_lat, b_lng) = SEATS[A], SEATS[B]
    middle_lat, middle_lng = (a_lat + b_lat) / 2, (a_lng + b_lng) / 2
    points = []
    for _ in range(500):
        accuracy = rng.choice([3.0, 10.0, 30.0, 80.0, 250.0])
        points.append((*noisy(middle_lat, middle_lng, accuracy, rng), accuracy))

    switches, _ = run_trace(points)

    assert switches <= 1

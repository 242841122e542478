"""When a GPS fix moves a user to another municipality: the rule against border flapping.

A fix resolves to the municipality with the nearest seat, so near the line halfway between
two seats every few metres of GPS noise would flip the result. The rule:

- The first fix of a user sets the city, whatever its accuracy (there is nothing to protect).
- A fix whose accuracy radius is worse than `max_accuracy_m` (default 1,000 m) never changes
  the city. When it resolves to another city, it neither counts towards nor breaks a run of
  agreeing fixes. When it resolves to the current city, it resets the run like any fix there.
- Let `advantage` be how much nearer the new seat is than the current one, and `u` the
  accuracy radius in km (1 km when the client did not send one). Wherever inside that radius
  the user really is, the true advantage is at least `advantage - 2u`.
- Decisive fix: `advantage >= margin_km + 2u` (default margin 2 km) switches at once.
- Agreeing fix: it resolves to the new city with `advantage >= max(2u, 0.5 km)`. The run of
  agreeing fixes for the same new city switches on its `confirmations`-th fix (default 3).
  A fix in the current city, or one for the new city that is not agreeing, resets the
  run; a fix agreeing with a third city restarts it.

With noise that stays inside the reported accuracy, a user standing still can trigger at
most one switch: switching there and back would need the true position on both sides of the
halfway line, or decisive fixes 2 × (margin + 2u) km apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

UNKNOWN_ACCURACY_KM = 1.0
MIN_AGREEMENT_KM = 0.5


class Outcome(StrEnum):
    FIRST_FIX = "first_fix"
    SAME_CITY = "same_city"
    INACCURATE = "inaccurate"
    DECISIVE = "decisive"
    CONFIRMED = "confirmed"
    PENDING = "pending"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True, slots=True)
class SwitchPolicy:
    max_accuracy_m: float = 1000.0
    margin_km: float = 2.0
    confirmations: int = 3


@dataclass(frozen=True, slots=True)
class Stay:
    """The user's current city and the run of fixes that pointed elsewhere."""

    city_id: int
    pending_city_id: int | None = None
    pending_count: int = 0


@dataclass(frozen=True, slots=True)
class Fix:
    """A resolved fix: the city with the nearest seat and the distances to both seats."""

    city_id: int
    seat_distance_km: float
    current_seat_distance_km: float
    accuracy_m: float | None


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    city_id: int
    pending_city_id: int | None
    pending_count: int

    @property
    def switched(self) -> bool:
        return self.outcome in (Outcome.FIRST_FIX, Outcome.DECISIVE, Outcome.CONFIRMED)


def decide(stay: Stay | None, fix: Fix, policy: SwitchPolicy) -> Decision:
    """Apply the rule in the module docstring to one fix."""
    if stay is None:
        return Decision(Outcome.FIRST_FIX, fix.city_id, None, 0)
    if fix.city_id == stay.city_id:
        return Decision(Outcome.SAME_CITY, stay.city_id, None, 0)
    if fix.accuracy_m is not None and fix.accuracy_m > policy.max_accuracy_m:
        return Decision(Outcome.INACCURATE, stay.city_id, stay.pending_city_id, stay.pending_count)

    uncertainty_km = UNKNOWN_ACCURACY_KM if fix.accuracy_m is None else fix.accuracy_m / 1000
    advantage_km = fix.current_seat_distance_km - fix.seat_distance_km
    if advantage_km >= policy.margin_km + 2 * uncertainty_km:
        return Decision(Outcome.DECISIVE, fix.city_id, None, 0)
    if advantage_km < max(2 * uncertainty_km, MIN_AGREEMENT_KM):
        # Too close to the halfway line to say which city this is: the run is broken.
        return Decision(Outcome.UNCERTAIN, stay.city_id, None, 0)

    count = stay.pending_count + 1 if stay.pending_city_id == fix.city_id else 1
    if count >= policy.confirmations:
        return Decision(Outcome.CONFIRMED, fix.city_id, None, 0)
    return Decision(Outcome.PENDING, stay.city_id, fix.city_id, count)

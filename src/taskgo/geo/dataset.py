"""The municipality data shipped in `taskgo/geo/data`, built by scripts/build_municipalities.py."""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True, slots=True)
class StateRecord:
    ibge_code: int
    uf: str
    name: str


@dataclass(frozen=True, slots=True)
class CityRef:
    """A municipality, keyed by its 7-digit IBGE code; lat/lng is its seat."""

    ibge_code: int
    name: str
    uf: str
    state_name: str
    timezone: str
    lat: float
    lng: float


def _read_rows(file_name: str) -> list[dict[str, str]]:
    text = (resources.files("taskgo.geo") / "data" / file_name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@functools.cache
def load_states() -> tuple[StateRecord, ...]:
    return tuple(
        StateRecord(ibge_code=int(row["ibge_code"]), uf=row["uf"], name=row["name"])
        for row in _read_rows("states.csv")
    )


@functools.cache
def load_cities() -> tuple[CityRef, ...]:
    state_names = {state.uf: state.name for state in load_states()}
    return tuple(
        CityRef(
            ibge_code=int(row["ibge_code"]),
            name=row["name"],
            uf=row["uf"],
            state_name=state_names[row["uf"]],
            timezone=row["timezone"],
            lat=float(row["latitude"]),
            lng=float(row["longitude"]),
        )
        for row in _read_rows("municipalities.csv")
    )


@functools.cache
def cities_by_code() -> dict[int, CityRef]:
    return {city.ibge_code: city for city in load_cities()}

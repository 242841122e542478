"""Upsert the shipped states and municipalities into the database, idempotently.

Shared by migration 0002 (synchronous Alembic connection) and `taskgo cities load`.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Insert, Table, literal_column, tuple_
from sqlalchemy.dialects.postgresql import insert

from taskgo.geo.dataset import load_cities, load_states
from taskgo.geo.models import City, State


def state_rows() -> list[dict[str, Any]]:
    return [{"id": s.ibge_code, "uf": s.uf, "name": s.name} for s in load_states()]


def city_rows() -> list[dict[str, Any]]:
    return [
        {
            "id": c.ibge_code,
            "state_id": c.ibge_code // 100_000,
            "name": c.name,
            "uf": c.uf,
            "latitude": c.lat,
            "longitude": c.lng,
            "timezone": c.timezone,
        }
        for c in load_cities()
    ]


def upsert_states() -> Insert:
    """INSERT … ON CONFLICT that changes only rows whose values differ; RETURNING tells
    inserted (`xmax = 0`) from updated rows."""
    table = cast(Table, State.__table__)
    statement = insert(table)
    columns = ("uf", "name")
    return statement.on_conflict_do_update(
        index_elements=["id"],
        set_={name: statement.excluded[name] for name in columns},
        where=tuple_(*(table.c[name] for name in columns)).is_distinct_from(
            tuple_(*(statement.excluded[name] for name in columns))
        ),
    ).returning(table.c.id, literal_column("xmax = 0").label("inserted"))


def upsert_cities() -> Insert:
    table = cast(Table, City.__table__)
    statement = insert(table)
    columns = ("state_id", "name", "uf", "latitude", "longitude", "timezone")
    return statement.on_conflict_do_update(
        index_elements=["id"],
        set_={name: statement.excluded[name] for name in columns},
        where=tuple_(*(table.c[name] for name in columns)).is_distinct_from(
            tuple_(*(statement.excluded[name] for name in columns))
        ),
    ).returning(table.c.id, literal_column("xmax = 0").label("inserted"))

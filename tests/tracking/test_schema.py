"""The 0007 migration creates exactly what the tracking models declare."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, MetaData, Table
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncEngine

from taskgo.db.base import Base
from taskgo.tracking import models

TRACKING_TABLES = {"tracking_shipments", "tracking_events", "tracking_poll_state"}


def _is_tracking(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return getattr(table, "name", name) in TRACKING_TABLES


async def test_models_match_migration(engine: AsyncEngine) -> None:
    assert set(models.Base.metadata.tables) >= TRACKING_TABLES
    tracking_only = MetaData(naming_convention=Base.metadata.naming_convention)
    # Bare users and purchases tables let the foreign keys resolve, so the tables they
    # point to stay out. include_object leaves them out of the comparison.
    for referenced in ("users", "purchases"):
        Table(referenced, tracking_only, Column("id", UUID(as_uuid=True), primary_key=True))
    for name in TRACKING_TABLES:
        Base.metadata.tables[name].to_metadata(tracking_only)

    def compare(connection: Any) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_object": _is_tracking},
        )
        return compare_metadata(context, tracking_only)

    async with engine.connect() as connection:
        diffs = await connection.run_sync(compare)

    assert diffs == []

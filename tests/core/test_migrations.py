"""The migrations are the only source of the schema: models and migrations must agree."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from taskgo.db.base import Base, import_all_models
from taskgo.db.migrate import head_revision


def _include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (name or "").startswith("procrastinate")


async def test_models_match_migrations(engine: AsyncEngine) -> None:
    import_all_models()

    def diff(sync_connection: Any) -> list[Any]:
        context = MigrationContext.configure(
            sync_connection, opts={"include_object": _include, "compare_type": True}
        )
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == [], "models and migrations differ:\n" + "\n".join(map(str, differences))


def test_single_migration_head() -> None:
    assert head_revision() is not None

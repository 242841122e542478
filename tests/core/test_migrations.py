"""The migrations are the only source of the schema: models and migrations must agree."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, text
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


async def test_check_constraints_carry_the_model_names(engine: AsyncEngine) -> None:
    import_all_models()
    expected = {
        (table.name, constraint.name)
        for table in Base.metadata.tables.values()
        for constraint in table.constraints
        if isinstance(constraint, CheckConstraint) and isinstance(constraint.name, str)
    }
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT t.relname, c.conname FROM pg_constraint AS c "
                "JOIN pg_class AS t ON t.oid = c.conrelid "
                "WHERE c.contype = 'c' AND t.relnamespace = 'public'::regnamespace"
            )
        )
        in_database = {(table, name) for table, name in rows}
    assert expected, "the models declare check constraints"
    assert expected - in_database == set()
    assert not [name for _, name in in_database if "_ck_" in name]

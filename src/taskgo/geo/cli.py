"""`taskgo cities …`: manage the municipality tables."""

from __future__ import annotations

import asyncio

import click


@click.group(name="cities")
def command() -> None:
    """Brazilian states and municipalities."""


@command.command("load")
def load() -> None:
    """Insert or update the 27 states and every municipality from the shipped data.

    Safe to run again: rows that already match are left alone.
    """
    from taskgo.cli import _pin_database_url
    from taskgo.db.session import close_database, init_database, session_scope
    from taskgo.geo.loader import city_rows, state_rows, upsert_cities, upsert_states

    url = _pin_database_url()

    async def run() -> tuple[int, int, int, int]:
        init_database(url)
        try:
            async with session_scope() as session:
                states = (await session.execute(upsert_states(), state_rows())).all()
                cities_rows = city_rows()
                cities = (await session.execute(upsert_cities(), cities_rows)).all()
        finally:
            await close_database()
        inserted = sum(1 for row in cities if row.inserted)
        return len(states), inserted, len(cities) - inserted, len(cities_rows) - len(cities)

    states_changed, inserted, updated, unchanged = asyncio.run(run())
    click.echo(
        f"states: {states_changed} written; cities: {inserted} inserted, {updated} updated, "
        f"{unchanged} unchanged"
    )

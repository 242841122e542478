"""The municipality tables: filled by the migration, refreshed by `taskgo cities load`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.jobs.queue import libpq_url


async def test_migration_loaded_every_city(db: AsyncSession) -> None:
    states = await db.scalar(text("SELECT count(*) FROM states"))
    cities = await db.scalar(text("SELECT count(*) FROM cities"))
    cascavel = (
        await db.execute(
            text(
                "SELECT name, uf, state_id, latitude, longitude, timezone "
                "FROM cities WHERE id = 4104808"
            )
        )
    ).one()

    assert states == 27
    assert cities == 5571
    assert cascavel.name == "Cascavel"
    assert cascavel.uf == "PR"
    assert cascavel.state_id == 41
    assert cascavel.latitude == pytest.approx(-24.956, abs=0.01)
    assert cascavel.longitude == pytest.approx(-53.455, abs=0.01)
    assert cascavel.timezone == "America/Sao_Paulo"


def run_load(database_url: str) -> str:
    taskgo = Path(sys.executable).with_name("taskgo")
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    result = subprocess.run(  # noqa: S603 - our own entry point, fixed arguments
        [str(taskgo), "cities", "load"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.timeout(300)
def test_cities_load_is_idempotent_and_repairs(database_url: str) -> None:
    assert (
        run_load(database_url) == "states: 0 written; cities: 0 inserted, 0 updated, 5571 unchanged"
    )

    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute("UPDATE cities SET name = 'Cascavel (edited)' WHERE id = 4104808")
    try:
        repaired = run_load(database_url)
    finally:
        with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
            name = connection.execute("SELECT name FROM cities WHERE id = 4104808").fetchone()

    assert repaired == "states: 0 written; cities: 0 inserted, 1 updated, 5570 unchanged"
    assert name == ("Cascavel",)

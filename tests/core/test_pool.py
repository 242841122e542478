"""The connection pool: fixed size from the settings, bursts wait instead of connecting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine

from taskgo.config import Settings
from taskgo.db.session import Database, init_database, pool_options


@pytest.fixture
async def own_engine(settings: Settings) -> AsyncIterator[Any]:
    """Build engines with init_database and put the suite's engine back afterwards."""
    saved = Database.engine, Database.sessionmaker
    built: list[AsyncEngine] = []

    def build(**overrides: Any) -> AsyncEngine:
        tuned = settings.model_copy(update=overrides)
        engine = init_database(settings.database_url or "", **pool_options(tuned))
        built.append(engine)
        return engine

    yield build
    for engine in built:
        await engine.dispose()
    Database.engine, Database.sessionmaker = saved


def count_connects(engine: AsyncEngine) -> list[object]:
    opened: list[object] = []
    event.listen(engine.sync_engine, "connect", lambda connection, record: opened.append(record))
    return opened


async def hold_connection(engine: AsyncEngine, seconds: float) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT pg_sleep(:seconds)"), {"seconds": seconds})


def test_pool_defaults_are_fixed() -> None:
    options = pool_options(Settings(_env_file=None))  # type: ignore[call-arg]
    assert options == {"pool_size": 20, "max_overflow": 0, "pool_timeout": 10.0, "pre_ping": False}


async def test_burst_reuses_pool_connections(own_engine: Any) -> None:
    engine = own_engine(database_pool_size=3)
    opened = count_connects(engine)
    for _ in range(3):
        await asyncio.gather(*(hold_connection(engine, 0.02) for _ in range(15)))
    # Connections opened for a burst and closed after it stalled the requests behind them.
    # Here three bursts of fifteen requests reuse the same three connections.
    assert len(opened) == 3
    assert engine.pool.checkedout() == 0


async def test_overflow_opens_extra_connections(own_engine: Any) -> None:
    engine = own_engine(database_pool_size=2, database_pool_overflow=3)
    opened = count_connects(engine)
    await asyncio.gather(*(hold_connection(engine, 0.1) for _ in range(5)))
    assert len(opened) == 5


async def test_pool_wait_times_out(own_engine: Any) -> None:
    engine = own_engine(database_pool_size=1, database_pool_timeout=0.2)
    holder = asyncio.create_task(hold_connection(engine, 1.0))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    with pytest.raises(PoolTimeoutError):
        await hold_connection(engine, 0)
    # The error handler turns this exception into 503 request.server_busy (test_errors.py).
    assert 0.15 <= time.monotonic() - started < 0.9
    await holder

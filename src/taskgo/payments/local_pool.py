"""Database connections of the local payments simulator, kept apart from the app's pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from taskgo.db.session import Database, session_scope

# Connections of the simulator's own pool. Callers wait for one when all are busy, but
# they never hold one while waiting, so the wait always ends.
POOL_SIZE = 4
POOL_OVERFLOW = 4


class SimulatorPool:
    """Transactions of the simulator on a small pool of its own.

    Callers are requests that already hold a connection of the app's pool. Drawn from that
    same pool, twenty concurrent purchases took every connection and then all waited for a
    second one until the pool timeout. A separate pool behaves like the HTTP connections of
    a real provider instead.
    """

    def __init__(self) -> None:
        self._engine: AsyncEngine | None = None
        self._sessionmaker: async_sessionmaker[AsyncSession] | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Open one transaction, committed when the block ends and rolled back on error."""
        maker = await self._own_sessionmaker()
        if maker is None:
            async with session_scope() as session:
                yield session
            return
        async with maker() as session, session.begin():
            yield session

    async def _own_sessionmaker(self) -> async_sessionmaker[AsyncSession] | None:
        engine = Database.engine
        app_sessions = Database.sessionmaker
        if engine is None or app_sessions is None:
            return None
        bound_to = app_sessions.kw.get("bind")
        if bound_to is None or bound_to != engine:
            # Tests bind the app's sessions to one connection whose transaction is rolled
            # back, and the simulator's objects must live and vanish in that transaction.
            return None
        url = engine.url
        own = self._engine
        if own is None or own.url != url or self._sessionmaker is None:
            await self.close()
            own = create_async_engine(
                url, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW, pool_pre_ping=True
            )
            self._engine = own
            self._sessionmaker = async_sessionmaker(own, expire_on_commit=False)
        return self._sessionmaker

    async def close(self) -> None:
        """Close the pool's connections (at shutdown, or when the app's database changes)."""
        if self._engine is not None:
            await self._engine.dispose()
        self._engine = None
        self._sessionmaker = None

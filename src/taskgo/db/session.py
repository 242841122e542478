"""Engine and session lifecycle: one transaction and one commit per request or job.

Services flush but never commit. The request dependency (`DbSession`) or `session_scope()`
commits once at the end, then runs the callbacks registered with `after_commit` (Socket.IO
emits, for example), so nothing is announced that was not stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

import asyncpg
import structlog
from fastapi import Depends
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

if TYPE_CHECKING:
    from taskgo.config import Settings

log = structlog.get_logger(__name__)

AFTER_COMMIT_KEY = "taskgo.after_commit"
AFTER_ROLLBACK_KEY = "taskgo.after_rollback"

AfterCommit = Callable[[], Awaitable[None]]


class Database:
    """The process's engine and session factory; tests swap the factory for a bound one."""

    engine: AsyncEngine | None = None
    sessionmaker: async_sessionmaker[AsyncSession] | None = None


def to_async_url(url: str) -> str:
    """Accept `postgres://` and `postgresql://` URLs and select the asyncpg driver."""
    for prefix in (
        "postgresql+psycopg://",
        "postgresql+asyncpg://",
        "postgresql://",
        "postgres://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def init_database(
    url: str,
    *,
    pool_size: int = 20,
    max_overflow: int = 0,
    pool_timeout: float = 10.0,
    pre_ping: bool = False,
) -> AsyncEngine:
    """Create the engine. `pre_ping` costs a round trip per checkout; without it a dead
    connection fails one statement, which invalidates the pool (see the 503 handler in
    taskgo.errors). Connections past `pool_size` (up to `max_overflow`) are closed when
    returned to a full pool, so a burst that needs them opens new ones each time."""
    engine = create_async_engine(
        to_async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_pre_ping=pre_ping,
    )
    Database.engine = engine
    Database.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    return engine


def pool_options(settings: Settings) -> dict[str, Any]:
    """Return the pool keywords of `init_database` from the `DATABASE_POOL_*` settings."""
    return {
        "pool_size": settings.database_pool_size,
        "max_overflow": settings.database_pool_overflow,
        "pool_timeout": settings.database_pool_timeout,
        "pre_ping": settings.database_pool_pre_ping,
    }


async def close_database() -> None:
    if Database.engine is not None:
        await Database.engine.dispose()
    Database.engine = None
    Database.sessionmaker = None


def get_sessionmaker() -> async_sessionmaker[AsyncSession]:
    if Database.sessionmaker is None:
        raise RuntimeError("database not initialised: call init_database() first")
    return Database.sessionmaker


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """Return the asyncpg connection that carries the session's transaction.

    Use it only for the API's hottest statements (the GPS fix and the product listing run on
    every listing request). A statement sent here skips about 0.1 ms of SQLAlchemy CPU work
    (measured with asyncpg 0.32 and SQLAlchemy 2.1), but SQLAlchemy does not process it: the
    caller writes `$n` SQL and reads asyncpg records.
    """
    connection = await session.connection()
    driver: asyncpg.Connection = (await connection.get_raw_connection()).driver_connection
    if not driver.is_in_transaction():
        # SQLAlchemy sends BEGIN with the session's first statement: send one so that what
        # follows runs in the session's transaction, not in autocommit mode.
        await connection.exec_driver_sql("SELECT 1")
    return driver


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run `callback` once the session's transaction commits; drop it on rollback."""
    session.info.setdefault(AFTER_COMMIT_KEY, []).append(callback)


def after_rollback(session: AsyncSession, callback: AfterCommit) -> None:
    """Run `callback` if the session's transaction rolls back or PostgreSQL rejects its commit.

    Use it for work outside the database that only the transaction's rows point to, such as
    a file stored before its row. The callback removes that work again.
    """
    session.info.setdefault(AFTER_ROLLBACK_KEY, []).append(callback)


async def _run_callbacks(callbacks: list[AfterCommit], event: str) -> None:
    """Run each callback. A failing one is logged, and the others still run."""
    for callback in callbacks:
        try:
            await callback()
        except Exception:
            log.exception(event, callback=getattr(callback, "__qualname__", "?"))


async def commit(session: AsyncSession) -> None:
    """Commit, then run the after-commit callbacks; a failing callback is logged, not raised.

    When PostgreSQL rejects the commit, the after-rollback callbacks run and the error is
    raised. When the outcome is unknown (the connection was lost or the task cancelled while
    committing), they are skipped: the rows may exist, and an orphaned file is the safer
    mistake than a row whose file was removed.
    """
    try:
        await session.commit()
    except BaseException as exc:
        session.info.pop(AFTER_COMMIT_KEY, None)
        callbacks: list[AfterCommit] = session.info.pop(AFTER_ROLLBACK_KEY, [])
        if isinstance(exc, DBAPIError) and not exc.connection_invalidated:
            await _run_callbacks(callbacks, "db.after_rollback_failed")
        elif callbacks:
            log.warning("db.commit_outcome_unknown", skipped_callbacks=len(callbacks))
        raise
    session.info.pop(AFTER_ROLLBACK_KEY, None)
    await _run_callbacks(session.info.pop(AFTER_COMMIT_KEY, []), "db.after_commit_failed")


async def rollback(session: AsyncSession) -> None:
    session.info.pop(AFTER_COMMIT_KEY, None)
    callbacks: list[AfterCommit] = session.info.pop(AFTER_ROLLBACK_KEY, [])
    try:
        await session.rollback()
    finally:
        await _run_callbacks(callbacks, "db.after_rollback_failed")


@asynccontextmanager
async def session_scope() -> AsyncIterator[AsyncSession]:
    """A session for jobs and commands: commits at exit, rolls back on error."""
    async with get_sessionmaker()() as session:
        try:
            yield session
        except BaseException:
            await rollback(session)
            raise
        await commit(session)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with get_sessionmaker()() as session:
        try:
            yield session
        except BaseException:
            await rollback(session)
            raise
        await commit(session)


DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]
"""The request's session; it commits after the handler returns and before the response."""

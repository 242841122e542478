"""Fixtures for the job queue tests: procrastinate on the test database, with rows that
really commit, since workers and the queue use their own connections.

The procrastinate tables are emptied before and after each test, and the app's connector
is put back, so other tests see the queue as they left it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest
from procrastinate.manager import JobManager
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from taskgo.db.session import session_scope
from taskgo.jobs import enqueue
from taskgo.jobs.queue import app, configure_jobs

# Long enough for a worker to start, defer the periodic check and run the jobs it frees.
WORKER_TIMEOUT = 60.0


async def _clear(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "TRUNCATE procrastinate_jobs, procrastinate_workers, "
                "procrastinate_periodic_defers CASCADE"
            )
        )


@pytest.fixture
async def queue_db(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The test database with empty procrastinate tables."""
    previous = app.connector
    await _clear(engine)
    try:
        yield engine
    finally:
        app.connector = previous
        app.job_manager.connector = previous
        await _clear(engine)


@pytest.fixture
async def job_manager(queue_db: AsyncEngine, database_url: str) -> AsyncIterator[JobManager]:
    """The app's job manager, connected to the test database."""
    configure_jobs(database_url)
    async with app.open_async():
        yield app.job_manager


async def add_worker(engine: AsyncEngine, *, heartbeat_age: float) -> int:
    """A row in procrastinate_workers whose last heartbeat is `heartbeat_age` seconds old."""
    async with engine.begin() as connection:
        worker_id = await connection.scalar(
            text(
                "INSERT INTO procrastinate_workers (last_heartbeat) "
                "VALUES (now() - make_interval(secs => :age)) RETURNING id"
            ),
            {"age": heartbeat_age},
        )
    return int(worker_id)


async def add_job(
    task_name: str,
    *,
    worker_id: int | None = None,
    attempts: int = 0,
    abort_requested: bool = False,
    **options: Any,
) -> int:
    """Queue a job; with `worker_id`, that worker has taken it ('doing')."""
    async with session_scope() as session:
        job_id = await enqueue(session, task_name, **options)
        if worker_id is not None:
            await session.execute(
                text(
                    "UPDATE procrastinate_jobs SET status = 'doing', worker_id = :worker, "
                    "attempts = :attempts, abort_requested = :abort WHERE id = :id"
                ),
                {
                    "worker": worker_id,
                    "attempts": attempts,
                    "abort": abort_requested,
                    "id": job_id,
                },
            )
    return job_id


async def job_state(engine: AsyncEngine, job_id: int) -> tuple[str, int]:
    """The job's status and attempts."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT status, attempts FROM procrastinate_jobs WHERE id = :id"),
                {"id": job_id},
            )
        ).one()
    return str(row.status), int(row.attempts)


@contextlib.asynccontextmanager
async def running(worker: Awaitable[None]) -> AsyncIterator[asyncio.Task[None]]:
    """Run a worker in the background; cancel it (a graceful stop) at the end."""
    task = asyncio.ensure_future(worker)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_for_status(
    engine: AsyncEngine, job_id: int, status: str, *, worker: asyncio.Task[None]
) -> None:
    """Wait until the job has `status`; fail when the worker stops or WORKER_TIMEOUT passes."""
    current = "unknown"
    try:
        async with asyncio.timeout(WORKER_TIMEOUT):
            while current != status:
                if worker.done():
                    worker.result()
                    raise AssertionError(f"the worker stopped with job {job_id} still {current}")
                await asyncio.sleep(0.2)
                current, _ = await job_state(engine, job_id)
    except TimeoutError:
        raise AssertionError(
            f"job {job_id} is {current} after {WORKER_TIMEOUT} s, not {status}"
        ) from None

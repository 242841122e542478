"""The procrastinate app, task registration and the transactional `enqueue`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import procrastinate
from procrastinate.testing import InMemoryConnector
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.modules import optional_module

# Domains whose `tasks.py` registers jobs; a module that does not exist yet is skipped.
TASK_MODULES = [
    "taskgo.locations.tasks",
    "taskgo.notifications.tasks",
    "taskgo.service_orders.tasks",
    "taskgo.chat.tasks",
    "taskgo.purchases.tasks",
    "taskgo.payments.tasks",
    "taskgo.tracking.tasks",
    "taskgo.support.tasks",
    "taskgo.verification.tasks",
    "taskgo.uploads.tasks",
    "taskgo.bank_accounts.tasks",
    "taskgo.products.tasks",
]

# Every worker stores a heartbeat this often (seconds) in `procrastinate_workers`.
HEARTBEAT_SECONDS = 10.0
# A worker whose heartbeat is older than this (seconds) is taken for dead: a starting
# worker deletes its row, and `taskgo.jobs.recovery` retries the jobs it left in 'doing'.
# A live worker would have to miss about three heartbeats in a row to be taken for dead.
STALLED_WORKER_SECONDS = 30.0

# The real connector is set by configure_jobs(); tasks only need the app to register.
# The worker options apply to `taskgo worker` and to the worker inside `taskgo dev`.
app = procrastinate.App(
    connector=InMemoryConnector(),
    worker_defaults={
        "update_heartbeat_interval": HEARTBEAT_SECONDS,
        "stalled_worker_timeout": STALLED_WORKER_SECONDS,
    },
)

_loaded = False


def load_task_modules() -> None:
    """Import every domain's tasks module so its tasks register on `app`."""
    global _loaded
    if _loaded:
        return
    # The retry of jobs left by dead workers and the removal of old finished jobs run in
    # every worker, whatever the domains.
    import taskgo.jobs.recovery
    import taskgo.jobs.retention  # noqa: F401

    for module in TASK_MODULES:
        optional_module(module)
    _loaded = True


def libpq_url(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def configure_jobs(database_url: str) -> procrastinate.App:
    """Point the app at PostgreSQL; open it with `async with app.open_async()` before use."""
    load_task_modules()
    connector = procrastinate.PsycopgConnector(conninfo=libpq_url(database_url))
    app.connector = connector
    app.job_manager.connector = connector
    return app


_DEFER_SQL = text(
    "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW("
    ":queue, :task_name, :priority, :lock, :queueing_lock, CAST(:args AS jsonb), :scheduled_at"
    ")::procrastinate_job_to_defer_v1]))"
)


async def enqueue(
    session: AsyncSession,
    task_name: str,
    *,
    queue: str = "default",
    priority: int = 0,
    lock: str | None = None,
    queueing_lock: str | None = None,
    scheduled_at: datetime | None = None,
    **args: Any,
) -> int:
    """Write a job in the session's transaction and return its id.

    Arguments must be JSON-serialisable (UUIDs and datetimes are turned into strings).
    The worker sees the job only after the transaction commits.
    """
    result = await session.execute(
        _DEFER_SQL,
        {
            "queue": queue,
            "task_name": task_name,
            "priority": priority,
            "lock": lock,
            "queueing_lock": queueing_lock,
            "args": orjson.dumps(args).decode(),
            "scheduled_at": scheduled_at,
        },
    )
    return int(result.scalar_one())

"""Embedded PostgreSQL from the `pgserver` package, for `make run` and tests without a server."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

_server: Any = None


def start_embedded_postgres(pgdata: Path, *, database: str = "taskgo") -> str:
    """Start (or reuse) the server whose data lives in `pgdata` and return a database URL.

    The data directory persists across runs; the server stops when the last process
    that started it exits.
    """
    global _server
    import pgserver  # imported lazily: it is only needed when DATABASE_URL is unset

    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", database):
        raise ValueError(f"invalid database name {database!r}")
    pgdata = pgdata.resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    if _server is None:
        _forget_dead_processes(pgdata)
        log.info("db.embedded_starting", pgdata=str(pgdata))
        _server = pgserver.get_server(pgdata, cleanup_mode="stop")
        # The name was checked against a strict pattern above, so quoting it is safe.
        query = f"SELECT 1 FROM pg_database WHERE datname = '{database}';"  # noqa: S608
        exists = _server.psql(query)
        if "(1 row)" not in exists:
            _server.psql(f'CREATE DATABASE "{database}";')
    uri: str = _server.get_uri(database)
    # The URI names a Unix socket as `?host=/path`, which asyncpg and psycopg both read.
    log.info("db.embedded_ready", pgdata=str(pgdata))
    return uri


def stop_embedded_postgres() -> None:
    """Stop the server when this process is the last one using it (no-op otherwise)."""
    global _server
    if _server is None:
        return
    server, _server = _server, None
    server.cleanup()
    log.info("db.embedded_released")


def _forget_dead_processes(pgdata: Path) -> None:
    """Drop processes that died without releasing the server from pgserver's user list.

    pgserver stops the server when the last process in `.handle_pids.json` exits; a process
    killed without running its exit hooks stays listed and would keep the server up forever.
    """
    import psutil

    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))

"""Embedded PostgreSQL from the `pgserver` package, for `make run` and tests without a server."""

from __future__ import annotations

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

    pgdata = pgdata.resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    if _server is None:
        log.info("db.embedded_starting", pgdata=str(pgdata))
        _server = pgserver.get_server(pgdata, cleanup_mode="stop")
        exists = _server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
        if "(1 row)" not in exists:
            _server.psql(f'CREATE DATABASE "{database}";')
    uri: str = _server.get_uri(database)
    # pgserver connects over a Unix socket given as `?host=/path`; asyncpg and psycopg read that too.
    log.info("db.embedded_ready", pgdata=str(pgdata))
    return uri


"""Check that the bare baseline runs the statements of our endpoint and returns the same page.

Our app is loaded in this process (no server) with listeners that record every statement
of one `GET /api/products` (BEGIN and COMMIT aside); the list is compared, whitespace aside,
with
`bench.products_bare.FULL_STATEMENTS`. A domain change that adds, drops or reshapes a
statement then shows up in the report instead of silently skewing the comparison.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from typing import Any

import httpx
from bench.products_bare import FULL_STATEMENTS


@dataclass
class Capture:
    statements: list[str]
    body: dict[str, Any]
    matches: bool
    differences: list[str]


_TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK"}


def _normal(statement: str) -> str:
    return re.sub(r"\s+", " ", statement).strip()


async def _capture(
    *, database_url: str, key_path: str, token: str, path: str
) -> tuple[list[str], dict[str, Any]]:
    from sqlalchemy import event

    from taskgo.app import create_fastapi_app
    from taskgo.config import reset_settings
    from taskgo.db.session import Database, close_database, init_database

    os.environ.update(
        {"DATABASE_URL": database_url, "AUTH_PROVIDER": "dev", "DEV_SIGNING_KEY_PATH": key_path}
    )
    reset_settings()
    app = create_fastapi_app()
    init_database(database_url)
    assert Database.engine is not None
    statements: list[str] = []

    def record(statement: str) -> None:
        statement = _normal(statement)
        if statement.rstrip(";").upper() not in _TRANSACTION_CONTROL:
            statements.append(statement)

    # Statements reach the database two ways: through SQLAlchemy (its cursor event records
    # them) and sent to asyncpg directly (taskgo.db.session.driver_connection), which
    # asyncpg's query logger records. asyncpg does not log SQLAlchemy's prepared statements,
    # so no statement is recorded twice.
    def on_connect(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(lambda logged: record(logged.query))

    def on_cursor(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        record(statement)

    event.listen(Database.engine.sync_engine, "connect", on_connect)
    event.listen(Database.engine.sync_engine, "before_cursor_execute", on_cursor)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://capture") as client:
                headers = {"Authorization": f"Bearer {token}"}
                await client.get(path, headers=headers)  # first call: connection set-up queries
                statements.clear()
                response = await client.get(path, headers=headers)
                response.raise_for_status()
                return list(statements), response.json()
    finally:
        await close_database()


def capture_endpoint(*, database_url: str, key_path: str, token: str, path: str) -> Capture:
    statements, body = asyncio.run(
        _capture(database_url=database_url, key_path=key_path, token=token, path=path)
    )
    expected = [_normal(statement) for statement in FULL_STATEMENTS]
    differences = []
    for index in range(max(len(statements), len(expected))):
        ours = statements[index] if index < len(statements) else "(none)"
        bare = expected[index] if index < len(expected) else "(none)"
        if ours != bare:
            differences.append(f"statement {index + 1}: ours {ours[:160]!r} / bare {bare[:160]!r}")
    return Capture(
        statements=statements, body=body, matches=not differences, differences=differences
    )


def same_page(ours: dict[str, Any], bare: dict[str, Any]) -> list[str]:
    """Return the fields in which two responses differ (the bare one must do the same work)."""
    problems = []
    for key in ("items", "nextCursor", "city"):
        if ours.get(key) != bare.get(key):
            problems.append(key)
    return problems

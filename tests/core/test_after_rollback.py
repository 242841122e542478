"""Callbacks run after a commit or after a rollback, each only on its own outcome."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from taskgo.db.session import after_commit, after_rollback, commit, session_scope
from taskgo.users.models import User
from tests.conftest import MakeUser


def recorder(calls: list[str], name: str) -> Callable[[], Awaitable[None]]:
    async def record() -> None:
        calls.append(name)

    return record


async def test_commit_runs_commit_callbacks(db: AsyncSession) -> None:
    calls: list[str] = []
    async with session_scope() as session:
        after_commit(session, recorder(calls, "commit"))
        after_rollback(session, recorder(calls, "rollback"))

    assert calls == ["commit"]


async def test_rollback_runs_rollback_callbacks(db: AsyncSession) -> None:
    calls: list[str] = []
    with pytest.raises(RuntimeError):
        async with session_scope() as session:
            after_commit(session, recorder(calls, "commit"))
            after_rollback(session, recorder(calls, "rollback"))
            raise RuntimeError("a later step failed")

    assert calls == ["rollback"]


async def test_failed_commit_runs_rollback_callbacks(db: AsyncSession, make_user: MakeUser) -> None:
    existing = await make_user()
    calls: list[str] = []
    with pytest.raises(IntegrityError):
        async with session_scope() as session:
            after_commit(session, recorder(calls, "commit"))
            after_rollback(session, recorder(calls, "rollback"))
            # The duplicate firebase_uid fails only when the commit flushes it.
            session.add(User(id=uuid.uuid4(), firebase_uid=existing.firebase_uid, role="client"))

    assert calls == ["rollback"]


async def test_failing_callback_spares_others(db: AsyncSession) -> None:
    calls: list[str] = []

    async def broken() -> None:
        raise OSError("storage unreachable")

    with pytest.raises(RuntimeError):
        async with session_scope() as session:
            after_rollback(session, broken)
            after_rollback(session, recorder(calls, "second"))
            raise RuntimeError("a later step failed")

    assert calls == ["second"]


async def test_lost_commit_skips_rollback_callbacks(engine: AsyncEngine) -> None:
    calls: list[str] = []
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as session:
        backend = await session.scalar(text("SELECT pg_backend_pid()"))
        after_rollback(session, recorder(calls, "rollback"))
        async with engine.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})

        # The client cannot tell whether COMMIT took effect, so nothing is undone.
        with pytest.raises(DBAPIError):
            await commit(session)

    assert calls == []

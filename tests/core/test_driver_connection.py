"""Statements sent to asyncpg directly run in the session's transaction."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from taskgo.db.session import driver_connection, get_sessionmaker
from taskgo.users.models import User

INSERT_USER = (
    "INSERT INTO users (id, firebase_uid, role, name, locale, verification_status, "
    "created_at, updated_at) VALUES ($1, $2, 'client', '', 'pt_BR', 'unverified', now(), now())"
)


async def count_users(uid: str) -> int:
    async with get_sessionmaker()() as session:
        return await session.scalar(select(func.count()).where(User.firebase_uid == uid)) or 0


async def test_first_statement_opens_the_transaction(engine: AsyncEngine) -> None:
    uid = f"driver-{uuid.uuid4().hex}"
    async with get_sessionmaker()() as session:
        driver = await driver_connection(session)
        assert driver.is_in_transaction()
        await driver.execute(INSERT_USER, uuid.uuid4(), uid)
        assert await session.scalar(select(func.count()).where(User.firebase_uid == uid)) == 1
        await session.rollback()
    assert await count_users(uid) == 0


async def test_commit_keeps_what_the_driver_wrote(engine: AsyncEngine) -> None:
    uid = f"driver-{uuid.uuid4().hex}"
    async with get_sessionmaker()() as session:
        await session.scalar(select(func.count()).select_from(User))
        driver = await driver_connection(session)
        await driver.execute(INSERT_USER, uuid.uuid4(), uid)
        await session.commit()
    assert await count_users(uid) == 1
    async with engine.begin() as connection:
        await connection.execute(User.__table__.delete().where(User.firebase_uid == uid))

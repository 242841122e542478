"""The Socket.IO message writer: shared statements, duplicates, lock waits, failures."""

import asyncio
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from taskgo.chat import service
from taskgo.chat.models import Message
from taskgo.chat.sending import Outgoing, SentMessage, write_direct
from taskgo.chat.store import Draft
from taskgo.chat.writer import MessageWriter, _Lease
from taskgo.db.session import Database, session_scope
from taskgo.errors import AppError
from taskgo.notifications.models import Notification
from taskgo.realtime import presence
from tests.conftest import MakeUser

pytestmark = [pytest.mark.usefixtures("live_chat"), pytest.mark.timeout(60)]


def _draft(conversation_id: uuid.UUID, sender_id: uuid.UUID, body: str, client_id: str) -> Draft:
    return Draft(
        message_id=uuid.uuid4(),
        conversation_id=conversation_id,
        sender_id=sender_id,
        body=body,
        client_message_id=client_id,
    )


async def _chat(make_live_user: MakeUser) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    buyer = await make_live_user()
    seller = await make_live_user(role="partner")
    async with session_scope() as session:
        conversation = await service.get_or_create_order_conversation(
            session, purchase_id=uuid.uuid4(), buyer_id=buyer.id, seller_id=seller.id
        )
    return conversation.id, buyer.id, seller.id


async def _count(conversation_id: uuid.UUID) -> int:
    async with session_scope() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.conversation_id == conversation_id)
        )
    return int(count or 0)


async def test_concurrent_sends_rows_and_duplicates(
    make_live_user: MakeUser,
) -> None:
    conversation_id, buyer, seller = await _chat(make_live_user)
    drafts = [
        _draft(conversation_id, (buyer, seller)[index % 2], f"m{index}", f"c{index}")
        for index in range(30)
    ]
    # The same clientMessageId twice more, queued with the others: one row, one id.
    repeats = [_draft(conversation_id, buyer, "m0", "c0") for _ in range(2)]
    writer = MessageWriter(max_batch=50, concurrency=2)

    try:
        results = await asyncio.gather(
            *(writer.send(Outgoing(draft=draft)) for draft in [*drafts, *repeats])
        )
    finally:
        await writer.close()

    fresh, resent = results[:30], results[30:]
    assert all(result.created for result in fresh)
    assert len({result.message.id for result in fresh}) == 30
    assert [result.message.body for result in fresh] == [f"m{index}" for index in range(30)]
    assert all(not result.created for result in resent)
    assert {result.message.id for result in resent} == {fresh[0].message.id}
    assert await _count(conversation_id) == 30


@pytest.mark.usefixtures("roomy_buckets")
async def test_writer_shares_statements(make_live_user: MakeUser) -> None:
    conversation_id, buyer, seller = await _chat(make_live_user)
    writer = MessageWriter(max_batch=200, concurrency=4, help_after=30.0)

    async def send(index: int) -> SentMessage:
        # Spread over several loop turns, so messages arrive while a batch is in flight.
        await asyncio.sleep(index * 0.0005)
        draft = _draft(conversation_id, (buyer, seller)[index % 2], f"m{index}", f"c{index}")
        return await writer.send(Outgoing(draft=draft))

    try:
        results = await asyncio.gather(*(send(index) for index in range(60)))
    finally:
        await writer.close()

    assert all(result.created for result in results)
    assert await _count(conversation_id) == 60
    # One batch in flight at a time: each statement carries what queued meanwhile.
    assert writer.statements < 60


async def test_helper_passes_locked_batch(make_live_user: MakeUser, engine: AsyncEngine) -> None:
    blocked, blocked_buyer, _ = await _chat(make_live_user)
    other, other_buyer, _ = await _chat(make_live_user)
    writer = MessageWriter(concurrency=2, help_after=0.05)

    try:
        async with engine.connect() as holder:
            transaction = await holder.begin()
            # Another transaction (an HTTP send, another process) has locked the chat's row.
            await holder.execute(
                text("SELECT id FROM conversations WHERE id = :id FOR UPDATE"), {"id": blocked}
            )
            stuck = asyncio.ensure_future(
                writer.send(Outgoing(draft=_draft(blocked, blocked_buyer, "preso", "s1")))
            )
            await asyncio.sleep(0.2)
            assert not stuck.done()

            sent = await asyncio.wait_for(
                writer.send(Outgoing(draft=_draft(other, other_buyer, "livre", "f1"))), 5
            )
            assert sent.created
            assert not stuck.done()
            await transaction.rollback()

        assert (await asyncio.wait_for(stuck, 5)).created
    finally:
        await writer.close()


async def test_helper_skips_chat_in_flight(make_live_user: MakeUser, engine: AsyncEngine) -> None:
    blocked, blocked_buyer, _ = await _chat(make_live_user)
    other, other_buyer, _ = await _chat(make_live_user)
    writer = MessageWriter(concurrency=2, help_after=0.05)

    try:
        async with engine.connect() as holder:
            transaction = await holder.begin()
            await holder.execute(
                text("SELECT id FROM conversations WHERE id = :id FOR UPDATE"), {"id": blocked}
            )
            stuck = asyncio.ensure_future(
                writer.send(Outgoing(draft=_draft(blocked, blocked_buyer, "um", "s1")))
            )
            await asyncio.sleep(0.2)
            # The next message of the locked chat waits for the batch in flight, so the
            # helper takes the other chat's message alone and does not wait on the lock.
            queued = asyncio.ensure_future(
                writer.send(Outgoing(draft=_draft(blocked, blocked_buyer, "dois", "s2")))
            )
            sent = await asyncio.wait_for(
                writer.send(Outgoing(draft=_draft(other, other_buyer, "livre", "f1"))), 5
            )
            await asyncio.sleep(0.2)
            assert sent.created
            assert not stuck.done()
            assert not queued.done()
            await transaction.rollback()

        first = await asyncio.wait_for(stuck, 5)
        second = await asyncio.wait_for(queued, 5)
    finally:
        await writer.close()

    assert first.message.created_at < second.message.created_at
    # The locked batch, the helper's batch, then the second message on its own.
    assert writer.statements == 3


async def test_dropped_connection_batch_retried(
    make_live_user: MakeUser, engine: AsyncEngine
) -> None:
    conversation_id, buyer, seller = await _chat(make_live_user)
    writer = MessageWriter(concurrency=1)

    try:
        first = await writer.send(Outgoing(draft=_draft(conversation_id, buyer, "antes", "a0")))
        assert first.created
        # The server ends the writer's kept connection, as a PostgreSQL restart would.
        async with engine.connect() as admin:
            ended = await admin.scalars(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND query ILIKE '%unnest%'"
                )
            )
            assert any(ended.all())
            await admin.commit()
        drafts = [
            _draft(conversation_id, (buyer, seller)[index % 2], f"d{index}", f"d{index}")
            for index in range(5)
        ]
        results = await asyncio.gather(*(writer.send(Outgoing(draft=d)) for d in drafts))
    finally:
        await writer.close()

    assert [result.message.body for result in results] == [f"d{index}" for index in range(5)]
    assert all(result.created for result in results)
    assert await _count(conversation_id) == 6


async def test_failed_message_fails_alone(
    make_live_user: MakeUser,
) -> None:
    conversation_id, buyer, seller = await _chat(make_live_user)
    writer = MessageWriter(concurrency=1)
    # PostgreSQL rejects NUL in text; validation normally stops it before the writer.
    drafts = [
        _draft(conversation_id, seller, "ok0", "k0"),
        _draft(conversation_id, buyer, "quebrado\x00", "k1"),
        _draft(conversation_id, seller, "ok2", "k2"),
    ]

    try:
        results = await asyncio.gather(
            *(writer.send(Outgoing(draft=draft)) for draft in drafts), return_exceptions=True
        )
    finally:
        await writer.close()

    assert isinstance(results[1], Exception)
    assert [result.message.body for result in results if isinstance(result, SentMessage)] == [
        "ok0",
        "ok2",
    ]
    # The failed statement stored nothing; the retries stored each good message once.
    assert await _count(conversation_id) == 2


async def test_lease_restores_planner_setting() -> None:
    lease = _Lease()
    driver = await lease.driver()
    assert await driver.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
    await lease.release()

    engine = Database.engine
    assert engine is not None
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert await raw.driver_connection.fetchval("SHOW plan_cache_mode") == "auto"


async def _chat_pushes(user_id: uuid.UUID) -> int:
    async with session_scope() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.kind == "chat_message")
        )
    return int(count or 0)


async def test_batch_pushes_only_offline_recipients(make_live_user: MakeUser) -> None:
    online_chat, online_buyer, online_seller = await _chat(make_live_user)
    offline_chat, offline_buyer, offline_seller = await _chat(make_live_user)
    await presence.add(sid="writer-test-socket", user_id=online_seller)
    writer = MessageWriter(concurrency=1, help_after=30.0)

    try:
        # Queued together, so one batch stores both and looks up presence once for both.
        await asyncio.gather(
            writer.send(Outgoing(draft=_draft(online_chat, online_buyer, "a", "a1"))),
            writer.send(Outgoing(draft=_draft(offline_chat, offline_buyer, "b", "b1"))),
        )
    finally:
        await writer.close()
        await presence.remove(sid="writer-test-socket")

    assert writer.statements == 1
    assert await _chat_pushes(online_seller) == 0
    assert await _chat_pushes(offline_seller) == 1
    assert await _chat_pushes(online_buyer) == 0
    assert await _chat_pushes(offline_buyer) == 0


async def _check_batch_over_rate(make_live_user: MakeUser) -> None:
    conversation_id, buyer, _ = await _chat(make_live_user)
    writer = MessageWriter(help_after=30.0)
    drafts = [_draft(conversation_id, buyer, f"m{index}", f"c{index}") for index in range(5)]

    try:
        results = await asyncio.gather(
            *(writer.send(Outgoing(draft=draft)) for draft in drafts), return_exceptions=True
        )
    finally:
        await writer.close()

    # A burst of 3: the first three queued are stored, the rest get the 429 error.
    assert [isinstance(result, SentMessage) for result in results] == [True] * 3 + [False] * 2
    for result in results[3:]:
        assert isinstance(result, AppError)
        assert result.code == "chat.rate_limited"
        assert result.status == 429
    assert await _count(conversation_id) == 3


@pytest.mark.usefixtures("small_bucket")
async def test_local_batch_over_rate_rejected(make_live_user: MakeUser) -> None:
    await _check_batch_over_rate(make_live_user)


@pytest.mark.usefixtures("with_redis")
async def test_redis_batch_over_rate_rejected(make_live_user: MakeUser) -> None:
    await _check_batch_over_rate(make_live_user)


class _LookupFails:
    """An asyncpg connection whose second statement fails, as if it dropped in between."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.statements = 0

    async def fetch(self, query: str, *arguments: Any) -> Any:
        self.statements += 1
        if self.statements == 2:
            raise ConnectionResetError("connection lost after the insert")
        return await self.connection.fetch(query, *arguments)


async def test_failed_lookup_keeps_new_messages(make_live_user: MakeUser) -> None:
    conversation_id, buyer, _ = await _chat(make_live_user)
    earlier = _draft(conversation_id, buyer, "antes", "c1")
    lease = _Lease()
    try:
        connection = await lease.driver()
        await write_direct(connection, [Outgoing(draft=earlier)])

        # A new message and a resend in one batch: the resend needs the second statement.
        fresh = _draft(conversation_id, buyer, "depois", "c2")
        outcomes, announcements = await write_direct(
            _LookupFails(connection), [Outgoing(draft=fresh), Outgoing(draft=earlier)]
        )
    finally:
        await lease.release()

    stored, resend = outcomes
    assert isinstance(stored, SentMessage)
    assert stored.created
    assert isinstance(resend, AppError)
    assert resend.code == "chat.unavailable"
    assert resend.status == 503
    assert [item.message.client_message_id for item in announcements] == ["c2"]
    assert await _count(conversation_id) == 2


async def test_database_outage_fails_batch_quickly(
    make_live_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation_id, buyer, seller = await _chat(make_live_user)
    assert Database.engine is not None
    # A pool of one connection that the test keeps, so the writer never gets one.
    small = create_async_engine(Database.engine.url, pool_size=1, max_overflow=0, pool_timeout=0.3)
    monkeypatch.setattr(Database, "engine", small)
    writer = MessageWriter(help_after=30.0)
    drafts = [
        _draft(conversation_id, (buyer, seller)[index % 2], f"m{index}", f"c{index}")
        for index in range(12)
    ]

    try:
        async with small.connect():
            started = time.monotonic()
            results = await asyncio.gather(
                *(writer.send(Outgoing(draft=draft)) for draft in drafts),
                return_exceptions=True,
            )
            elapsed = time.monotonic() - started
    finally:
        await writer.close()
        await small.dispose()

    # One try and one retry of 0.3 s each, not one pool timeout per message (3.9 s).
    assert elapsed < 1.5
    for result in results:
        assert isinstance(result, AppError)
        assert result.code == "chat.unavailable"
        assert result.status == 503
    assert await _count(conversation_id) == 0

import asyncio
import itertools
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.chat import service
from taskgo.chat.models import Conversation, Message
from taskgo.chat.sending import Outgoing, SentMessage, write_messages
from taskgo.chat.store import Draft
from taskgo.chat.writer import MessageWriter
from taskgo.db.session import session_scope
from taskgo.errors import AppError
from tests.conftest import MakeUser


def _draft(
    conversation_id: uuid.UUID, sender_id: uuid.UUID, body: str, client_id: str | None = None
) -> Draft:
    return Draft(
        message_id=uuid.uuid4(),
        conversation_id=conversation_id,
        sender_id=sender_id,
        body=body,
        client_message_id=client_id or uuid.uuid4().hex,
    )


async def _chat(db: AsyncSession, make_user: MakeUser) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    buyer = await make_user()
    seller = await make_user(role="partner")
    conversation = await service.get_or_create_order_conversation(
        db, purchase_id=uuid.uuid4(), buyer_id=buyer.id, seller_id=seller.id
    )
    return conversation.id, buyer.id, seller.id


async def test_batch_mixes_conversations_and_outcomes(
    db: AsyncSession, make_user: MakeUser
) -> None:
    first, buyer, seller = await _chat(db, make_user)
    second, other_buyer, _ = await _chat(db, make_user)
    outsider = await make_user()
    drafts = [
        _draft(first, buyer, "a1", "dup"),
        _draft(second, other_buyer, "b1"),
        _draft(first, seller, "a2"),
        _draft(first, outsider.id, "intruso"),
        _draft(first, buyer, "a1", "dup"),
        _draft(first, buyer, "outro", "dup"),
        _draft(uuid.uuid4(), buyer, "nenhuma"),
    ]

    outcomes = await write_messages(db, [Outgoing(draft=draft) for draft in drafts])

    assert isinstance(outcomes[0], SentMessage) and outcomes[0].created
    assert isinstance(outcomes[1], SentMessage) and outcomes[1].created
    assert isinstance(outcomes[2], SentMessage) and outcomes[2].created
    assert isinstance(outcomes[3], AppError)
    assert outcomes[3].code == "chat.conversation_not_found"
    assert isinstance(outcomes[4], SentMessage) and not outcomes[4].created
    assert outcomes[4].message.id == outcomes[0].message.id
    assert isinstance(outcomes[5], AppError)
    assert outcomes[5].code == "chat.client_message_id_reused"
    assert isinstance(outcomes[6], AppError)
    assert outcomes[6].code == "chat.conversation_not_found"
    stored = list(await db.scalars(select(Message.body).order_by(Message.created_at)))
    assert sorted(stored) == ["a1", "a2", "b1"]


async def test_batch_stamps_follow_batch_order(db: AsyncSession, make_user: MakeUser) -> None:
    conversation_id, buyer, seller = await _chat(db, make_user)
    before = [_draft(conversation_id, buyer, "antes")]
    await write_messages(db, [Outgoing(draft=draft) for draft in before])
    drafts = [
        _draft(conversation_id, (buyer, seller)[index % 2], f"m{index}") for index in range(6)
    ]

    outcomes = await write_messages(db, [Outgoing(draft=draft) for draft in drafts])

    stamps = [
        outcome.message.created_at for outcome in outcomes if isinstance(outcome, SentMessage)
    ]
    assert len(stamps) == 6
    assert all(
        later - earlier == timedelta(microseconds=1)
        for earlier, later in itertools.pairwise(stamps)
    )
    rows = list(
        await db.scalars(
            select(Message.body)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.created_at, Message.id)
        )
    )
    assert rows == ["antes", *[f"m{index}" for index in range(6)]]
    conversation = await db.get(Conversation, conversation_id)
    assert conversation is not None
    await db.refresh(conversation)
    assert conversation.last_message_at == stamps[-1]


async def test_empty_batch_writes_nothing(db: AsyncSession) -> None:
    assert await write_messages(db, []) == []


@pytest.mark.usefixtures("live_chat")
@pytest.mark.timeout(60)
async def test_writer_batches_concurrent_sends(make_live_user: MakeUser) -> None:
    buyer = await make_live_user()
    seller = await make_live_user(role="partner")
    async with session_scope() as session:
        conversation = await service.get_or_create_order_conversation(
            session, purchase_id=uuid.uuid4(), buyer_id=buyer.id, seller_id=seller.id
        )
    writer = MessageWriter(max_batch=10, concurrency=2)
    drafts = [
        _draft(conversation.id, (buyer.id, seller.id)[index % 2], f"m{index}")
        for index in range(40)
    ]

    try:
        results = await asyncio.gather(*(writer.send(Outgoing(draft=draft)) for draft in drafts))
    finally:
        await writer.close()

    assert [result.message.body for result in results] == [f"m{index}" for index in range(40)]
    assert all(result.created for result in results)
    async with session_scope() as session:
        stored = list(
            await session.scalars(
                select(Message.id).where(Message.conversation_id == conversation.id)
            )
        )
    assert len(stored) == 40


@pytest.mark.usefixtures("live_chat")
@pytest.mark.timeout(60)
async def test_writer_isolates_failing_message(make_live_user: MakeUser) -> None:
    buyer = await make_live_user()
    seller = await make_live_user(role="partner")
    async with session_scope() as session:
        conversation = await service.get_or_create_order_conversation(
            session, purchase_id=uuid.uuid4(), buyer_id=buyer.id, seller_id=seller.id
        )
    writer = MessageWriter(max_batch=10, concurrency=1)
    # PostgreSQL rejects NUL in text; validation normally stops it before the writer.
    broken = _draft(conversation.id, buyer.id, "quebrado\x00")
    fine = [_draft(conversation.id, seller.id, f"ok{index}") for index in range(3)]

    try:
        results = await asyncio.gather(
            *(writer.send(Outgoing(draft=draft)) for draft in [fine[0], broken, *fine[1:]]),
            return_exceptions=True,
        )
    finally:
        await writer.close()

    assert isinstance(results[1], Exception)
    assert [result.message.body for result in results if isinstance(result, SentMessage)] == [
        "ok0",
        "ok1",
        "ok2",
    ]


@pytest.mark.usefixtures("live_chat")
async def test_closed_writer_drains_queue(make_live_user: MakeUser) -> None:
    buyer = await make_live_user()
    seller = await make_live_user(role="partner")
    async with session_scope() as session:
        conversation = await service.get_or_create_order_conversation(
            session, purchase_id=uuid.uuid4(), buyer_id=buyer.id, seller_id=seller.id
        )
    writer = MessageWriter(max_batch=5, concurrency=1)
    drafts = [_draft(conversation.id, buyer.id, f"m{index}") for index in range(12)]
    pending = [asyncio.ensure_future(writer.send(Outgoing(draft=draft))) for draft in drafts]
    await asyncio.sleep(0)

    await writer.close()

    results = await asyncio.gather(*pending)
    assert len({result.message.id for result in results}) == 12


@pytest.mark.usefixtures("live_chat")
@pytest.mark.timeout(120)
@pytest.mark.usefixtures("roomy_buckets")
async def test_concurrent_batches_share_conversations(make_live_user: MakeUser) -> None:
    users = [await make_live_user() for _ in range(4)]
    conversation_ids = []
    async with session_scope() as session:
        for buyer, seller in itertools.combinations(users, 2):
            conversation = await service.get_or_create_order_conversation(
                session, purchase_id=uuid.uuid4(), buyer_id=buyer.id, seller_id=seller.id
            )
            conversation_ids.append((conversation.id, buyer.id, seller.id))
    # Two writers stand in for two server processes: their batches mix the same six
    # conversations in different orders, which deadlocks unless locks follow one order.
    writers = [MessageWriter(max_batch=7, concurrency=4) for _ in range(2)]
    drafts = [
        _draft(conversation_id, (buyer, seller)[index % 2], f"m{index}")
        for index, (conversation_id, buyer, seller) in enumerate(
            conversation_ids[(index * 5) % len(conversation_ids)] for index in range(300)
        )
    ]

    try:
        results = await asyncio.gather(
            *(writers[index % 2].send(Outgoing(draft=draft)) for index, draft in enumerate(drafts))
        )
    finally:
        for writer in writers:
            await writer.close()

    assert all(result.created for result in results)
    async with session_scope() as session:
        for conversation_id, _, _ in conversation_ids:
            stamps = list(
                await session.scalars(
                    select(Message.created_at)
                    .where(Message.conversation_id == conversation_id)
                    .order_by(Message.created_at)
                )
            )
            assert len(stamps) == len(set(stamps))
            conversation = await session.get(Conversation, conversation_id)
            assert conversation is not None
            assert conversation.last_message_at == stamps[-1]
        total = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.conversation_id.in_([row[0] for row in conversation_ids]))
        )
    assert total == 300

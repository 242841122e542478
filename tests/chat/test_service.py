import itertools
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.chat import sending, service
from taskgo.chat.models import Conversation, ConversationParticipant, Message
from taskgo.errors import AppError
from taskgo.realtime.emitter import AFTER_COMMIT_KEY
from tests.conftest import MakeUser


async def _conversation(
    db: AsyncSession, make_user: MakeUser
) -> tuple[Conversation, uuid.UUID, uuid.UUID]:
    buyer = await make_user(name="Bruna Compradora")
    seller = await make_user(role="partner", name="Sérgio Vendedor")
    conversation = await service.get_or_create_order_conversation(
        db, purchase_id=uuid.uuid4(), buyer_id=buyer.id, seller_id=seller.id
    )
    return conversation, buyer.id, seller.id


async def _send(
    db: AsyncSession,
    conversation_id: uuid.UUID,
    sender: uuid.UUID,
    body: str,
    client_id: str | None = None,
) -> sending.SentMessage:
    return await sending.send_message(
        db,
        conversation_id=conversation_id,
        sender_id=sender,
        body=body,
        client_message_id=client_id or uuid.uuid4().hex,
    )


async def test_order_conversation_created_once(db: AsyncSession, make_user: MakeUser) -> None:
    buyer = await make_user()
    seller = await make_user(role="partner")
    purchase_id = uuid.uuid4()

    first = await service.get_or_create_order_conversation(
        db, purchase_id=purchase_id, buyer_id=buyer.id, seller_id=seller.id
    )
    second = await service.get_or_create_order_conversation(
        db, purchase_id=purchase_id, buyer_id=buyer.id, seller_id=seller.id
    )

    assert first.id == second.id
    assert first.type == "order_chat"
    assert first.purchase_id == purchase_id
    rows = (
        await db.execute(
            select(ConversationParticipant.user_id, ConversationParticipant.role)
            .where(ConversationParticipant.conversation_id == first.id)
            .order_by(ConversationParticipant.role)
        )
    ).all()
    assert [(row.user_id, row.role) for row in rows] == [(buyer.id, "buyer"), (seller.id, "seller")]


async def test_order_conversation_same_user_rejected(db: AsyncSession, make_user: MakeUser) -> None:
    user = await make_user()
    with pytest.raises(AppError) as caught:
        await service.get_or_create_order_conversation(
            db, purchase_id=uuid.uuid4(), buyer_id=user.id, seller_id=user.id
        )
    assert caught.value.code == "chat.same_participant"
    assert await db.scalar(select(func.count()).select_from(Conversation)) == 0


async def test_send_stores_trimmed_message(db: AsyncSession, make_user: MakeUser) -> None:
    conversation, buyer, _ = await _conversation(db, make_user)

    sent = await _send(db, conversation.id, buyer, "  Quando chega?  ", "c-1")

    assert sent.created is True
    stored = await db.get(Message, sent.message.id)
    assert stored is not None
    assert stored.body == "Quando chega?"
    assert stored.sender_id == buyer
    assert stored.client_message_id == "c-1"
    await db.refresh(conversation)
    assert conversation.last_message_at == stored.created_at


async def test_resend_returns_same_message(db: AsyncSession, make_user: MakeUser) -> None:
    conversation, buyer, _ = await _conversation(db, make_user)
    first = await _send(db, conversation.id, buyer, "Oi", "same-id")
    queued = len(db.info[AFTER_COMMIT_KEY])

    again = await _send(db, conversation.id, buyer, "Oi", "same-id")

    assert again.created is False
    assert again.message.id == first.message.id
    assert again.message.created_at == first.message.created_at
    assert len(db.info[AFTER_COMMIT_KEY]) == queued
    count = await db.scalar(
        select(func.count()).select_from(Message).where(Message.conversation_id == conversation.id)
    )
    assert count == 1


async def test_resend_with_other_body_conflicts(db: AsyncSession, make_user: MakeUser) -> None:
    conversation, buyer, _ = await _conversation(db, make_user)
    await _send(db, conversation.id, buyer, "Oi", "same-id")

    with pytest.raises(AppError) as caught:
        await _send(db, conversation.id, buyer, "Outra coisa", "same-id")

    assert caught.value.code == "chat.client_message_id_reused"
    assert caught.value.status == 409


async def test_same_client_id_from_other_sender_is_new(
    db: AsyncSession, make_user: MakeUser
) -> None:
    conversation, buyer, seller = await _conversation(db, make_user)
    first = await _send(db, conversation.id, buyer, "Oi", "shared-id")
    second = await _send(db, conversation.id, seller, "Olá", "shared-id")
    assert second.created is True
    assert second.message.id != first.message.id


async def test_send_by_non_participant_not_found(db: AsyncSession, make_user: MakeUser) -> None:
    conversation, _, _ = await _conversation(db, make_user)
    outsider = await make_user(name="Curioso")

    with pytest.raises(AppError) as caught:
        await _send(db, conversation.id, outsider.id, "Oi")

    assert caught.value.code == "chat.conversation_not_found"
    assert caught.value.status == 404
    count = await db.scalar(select(func.count()).select_from(Message))
    assert count == 0
    await db.refresh(conversation)
    assert conversation.last_message_at is None


async def test_send_to_unknown_conversation_not_found(
    db: AsyncSession, make_user: MakeUser
) -> None:
    user = await make_user()
    with pytest.raises(AppError) as caught:
        await _send(db, uuid.uuid4(), user.id, "Oi")
    assert caught.value.code == "chat.conversation_not_found"


async def test_invalid_body_stores_nothing(db: AsyncSession, make_user: MakeUser) -> None:
    conversation, buyer, _ = await _conversation(db, make_user)
    with pytest.raises(AppError) as caught:
        await _send(db, conversation.id, buyer, "a" * 4001)
    assert caught.value.code == "chat.body_too_long"
    assert await db.scalar(select(func.count()).select_from(Message)) == 0


async def test_timestamps_strictly_increase(db: AsyncSession, make_user: MakeUser) -> None:
    conversation, buyer, seller = await _conversation(db, make_user)
    sent = [await _send(db, conversation.id, (buyer, seller)[i % 2], f"m{i}") for i in range(30)]

    stamps = [item.message.created_at for item in sent]
    assert all(earlier < later for earlier, later in itertools.pairwise(stamps))


async def test_history_newest_first_pages(db: AsyncSession, make_user: MakeUser) -> None:
    conversation, buyer, seller = await _conversation(db, make_user)
    for i in range(7):
        await _send(db, conversation.id, (buyer, seller)[i % 2], f"m{i}")

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page, cursor = await service.list_messages(
            db, conversation_id=conversation.id, user_id=seller, cursor=cursor, limit=3
        )
        seen.extend(message.body for message in page)
        if cursor is None:
            break

    assert seen == [f"m{i}" for i in reversed(range(7))]


async def test_history_after_message_forward(db: AsyncSession, make_user: MakeUser) -> None:
    conversation, buyer, seller = await _conversation(db, make_user)
    sent = [await _send(db, conversation.id, buyer, f"m{i}") for i in range(8)]

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page, cursor = await service.list_messages(
            db,
            conversation_id=conversation.id,
            user_id=seller,
            cursor=cursor,
            limit=2,
            after_message_id=sent[2].message.id,
        )
        seen.extend(message.body for message in page)
        if cursor is None:
            break

    assert seen == ["m3", "m4", "m5", "m6", "m7"]


async def test_history_after_foreign_message_rejected(
    db: AsyncSession, make_user: MakeUser
) -> None:
    first, buyer, _ = await _conversation(db, make_user)
    other, other_buyer, _ = await _conversation(db, make_user)
    foreign = await _send(db, other.id, other_buyer, "fora")

    with pytest.raises(AppError) as caught:
        await service.list_messages(
            db,
            conversation_id=first.id,
            user_id=buyer,
            cursor=None,
            limit=10,
            after_message_id=foreign.message.id,
        )
    assert caught.value.code == "chat.message_not_found"
    assert caught.value.field == "after"


async def test_history_hidden_from_non_participant(db: AsyncSession, make_user: MakeUser) -> None:
    conversation, buyer, _ = await _conversation(db, make_user)
    await _send(db, conversation.id, buyer, "segredo")
    outsider = await make_user()

    with pytest.raises(AppError) as caught:
        await service.list_messages(
            db, conversation_id=conversation.id, user_id=outsider.id, cursor=None, limit=10
        )
    assert caught.value.status == 404


async def test_mark_read_only_moves_forward(db: AsyncSession, make_user: MakeUser) -> None:
    conversation, buyer, seller = await _conversation(db, make_user)
    sent = [await _send(db, conversation.id, buyer, f"m{i}") for i in range(3)]
    me = await service.require_participant(db, conversation_id=conversation.id, user_id=seller)
    assert await service.unread_count(db, participant=me) == 3

    marked = await service.mark_read(
        db, conversation_id=conversation.id, user_id=seller, message_id=sent[1].message.id
    )
    assert marked.last_read_message_id == sent[1].message.id
    assert await service.unread_count(db, participant=marked) == 1
    queued = len(db.info[AFTER_COMMIT_KEY])

    older = await service.mark_read(
        db, conversation_id=conversation.id, user_id=seller, message_id=sent[0].message.id
    )
    assert older.last_read_message_id == sent[1].message.id
    assert len(db.info[AFTER_COMMIT_KEY]) == queued


async def test_own_messages_not_unread(db: AsyncSession, make_user: MakeUser) -> None:
    conversation, buyer, _ = await _conversation(db, make_user)
    await _send(db, conversation.id, buyer, "eu mesmo")
    me = await service.require_participant(db, conversation_id=conversation.id, user_id=buyer)
    assert await service.unread_count(db, participant=me) == 0

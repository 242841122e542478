import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from taskgo.chat import service
from taskgo.chat.models import Message
from taskgo.db.session import session_scope
from taskgo.realtime.server import sio
from taskgo.realtime.settings import reset_realtime_settings
from taskgo.users.models import User
from tests.conftest import MakeUser
from tests.realtime.fixtures import ConnectSocket, TestSocket

pytestmark = [pytest.mark.usefixtures("live_chat"), pytest.mark.timeout(60)]


class Chat:
    def __init__(self, conversation_id: uuid.UUID, buyer: User, seller: User) -> None:
        self.id = conversation_id
        self.buyer = buyer
        self.seller = seller


@pytest.fixture
async def chat(make_live_user: MakeUser) -> Chat:
    buyer = await make_live_user(name="Bruna")
    seller = await make_live_user(role="partner", name="Sérgio")
    async with session_scope() as session:
        conversation = await service.get_or_create_order_conversation(
            session, purchase_id=uuid.uuid4(), buyer_id=buyer.id, seller_id=seller.id
        )
    return Chat(conversation.id, buyer, seller)


async def _joined(
    connect_socket: ConnectSocket, token_for: Any, user: User, chat: Chat, **kwargs: Any
) -> TestSocket:
    socket = await connect_socket(auth={"token": token_for(user)}, **kwargs)
    reply = await socket.call("join_conversation", {"conversationId": str(chat.id)})
    assert reply == {"ok": True}
    return socket


def _send(socket: TestSocket, chat: Chat, body: str, client_id: str | None = None) -> Any:
    return socket.call(
        "send_message",
        {
            "conversationId": str(chat.id),
            "body": body,
            "clientMessageId": client_id or uuid.uuid4().hex,
        },
    )


async def _stored(chat: Chat) -> list[Message]:
    async with session_scope() as session:
        result = await session.scalars(
            select(Message)
            .where(Message.conversation_id == chat.id)
            .order_by(Message.created_at, Message.id)
        )
        return list(result)


async def test_message_reaches_other_participant_once(
    connect_socket: ConnectSocket, token_for: Any, chat: Chat
) -> None:
    buyer = await _joined(connect_socket, token_for, chat.buyer, chat)
    seller = await _joined(connect_socket, token_for, chat.seller, chat)

    ack = await _send(buyer, chat, "  Quando chega?  ", "c-1")

    assert set(ack) == {"id", "conversationId", "clientMessageId", "createdAt", "duplicate"}
    assert ack["duplicate"] is False
    received = await seller.inbox.wait_for("new_message")
    await seller.inbox.settle()
    assert received == [
        {
            "id": ack["id"],
            "conversationId": str(chat.id),
            "senderId": str(chat.buyer.id),
            "body": "Quando chega?",
            "clientMessageId": "c-1",
            "createdAt": received[0]["createdAt"],
        }
    ]
    # The sending socket gets the ack instead of the event.
    assert buyer.inbox.events["new_message"] == []
    stored = await _stored(chat)
    assert [message.body for message in stored] == ["Quando chega?"]
    assert str(stored[0].id) == ack["id"]


async def test_sender_other_device_gets_message(
    connect_socket: ConnectSocket, token_for: Any, chat: Chat
) -> None:
    phone = await _joined(connect_socket, token_for, chat.buyer, chat)
    # Connected but not joined: the user room still reaches it.
    tablet = await connect_socket(auth={"token": token_for(chat.buyer)})

    ack = await _send(phone, chat, "Oi")

    received = await tablet.inbox.wait_for("new_message")
    assert [event["id"] for event in received] == [ack["id"]]


async def test_resend_returns_same_id_without_event(
    connect_socket: ConnectSocket, token_for: Any, chat: Chat
) -> None:
    buyer = await _joined(connect_socket, token_for, chat.buyer, chat)
    seller = await _joined(connect_socket, token_for, chat.seller, chat)

    first = await _send(buyer, chat, "Oi", "retry-1")
    second = await _send(buyer, chat, "Oi", "retry-1")
    reused = await _send(buyer, chat, "Outro texto", "retry-1")

    assert second["id"] == first["id"]
    assert second["createdAt"] == first["createdAt"]
    assert second["duplicate"] is True
    assert reused["error"]["code"] == "chat.client_message_id_reused"
    await seller.inbox.wait_for("new_message")
    await seller.inbox.settle()
    assert len(seller.inbox.events["new_message"]) == 1
    assert len(await _stored(chat)) == 1


async def test_outsider_join_rejected_and_hears_nothing(
    connect_socket: ConnectSocket, token_for: Any, chat: Chat, make_live_user: MakeUser
) -> None:
    outsider_user = await make_live_user(name="Curioso")
    outsider = await connect_socket(auth={"token": token_for(outsider_user)})
    buyer = await _joined(connect_socket, token_for, chat.buyer, chat)

    reply = await outsider.call("join_conversation", {"conversationId": str(chat.id)})
    sent = await _send(outsider, chat, "intrometido")
    await _send(buyer, chat, "Mensagem privada")
    await outsider.inbox.settle()

    assert reply["error"]["code"] == "chat.conversation_not_found"
    assert reply["error"]["message"]
    assert sent["error"]["code"] == "chat.conversation_not_found"
    assert outsider.inbox.events["new_message"] == []
    room = f"conversation:{chat.id}"
    assert outsider.client.get_sid() not in dict(sio.manager.get_participants("/", room))
    assert [message.body for message in await _stored(chat)] == ["Mensagem privada"]


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        ({"body": "   "}, "chat.body_empty", "body"),
        ({"body": "x" * 4001}, "chat.body_too_long", "body"),
        ({"body": "oi\x00"}, "chat.body_control_character", "body"),
        ({"body": 12}, "chat.body_invalid", "body"),
        (
            {"body": "oi", "clientMessageId": ""},
            "chat.client_message_id_invalid",
            "clientMessageId",
        ),
        ({"body": "oi", "conversationId": "not-a-uuid"}, "chat.id_invalid", "conversationId"),
    ],
)
async def test_invalid_message_rejected_with_field(
    connect_socket: ConnectSocket,
    token_for: Any,
    chat: Chat,
    payload: dict[str, Any],
    code: str,
    field: str,
) -> None:
    buyer = await _joined(connect_socket, token_for, chat.buyer, chat)
    data = {"conversationId": str(chat.id), "clientMessageId": "c-1", **payload}

    reply = await buyer.call("send_message", data)

    assert reply["error"]["code"] == code
    assert reply["error"]["field"] == field
    assert reply["error"]["message"] != code
    assert await _stored(chat) == []


async def test_extra_arguments_still_acked(
    connect_socket: ConnectSocket, token_for: Any, chat: Chat
) -> None:
    buyer = await _joined(connect_socket, token_for, chat.buyer, chat)
    payload = {"conversationId": str(chat.id), "body": "oi", "clientMessageId": "c-1"}

    # python-socketio sends a tuple as several event arguments.
    joined = await buyer.client.call("join_conversation", (payload, "extra"), timeout=5)
    sent = await buyer.client.call("send_message", (payload, 2, None), timeout=5)

    assert joined == {"ok": True}
    assert sent["duplicate"] is False
    assert [message.body for message in await _stored(chat)] == ["oi"]


async def test_error_ack_in_english(
    connect_socket: ConnectSocket, token_for: Any, chat: Chat
) -> None:
    english = await _joined(
        connect_socket, token_for, chat.buyer, chat, headers={"Accept-Language": "en"}
    )
    portuguese = await _joined(connect_socket, token_for, chat.buyer, chat)

    in_english = await _send(english, chat, "")
    in_portuguese = await _send(portuguese, chat, "")

    assert in_english["error"]["code"] == in_portuguese["error"]["code"] == "chat.body_empty"
    assert in_english["error"]["message"] != in_portuguese["error"]["message"]


async def test_rate_limit_error_ack(
    connect_socket: ConnectSocket, token_for: Any, chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_RATE_BURST", "3")
    monkeypatch.setenv("CHAT_RATE_PER_SECOND", "0.5")
    reset_realtime_settings()
    try:
        buyer = await _joined(connect_socket, token_for, chat.buyer, chat)
        replies = [await _send(buyer, chat, f"m{i}") for i in range(4)]
    finally:
        monkeypatch.undo()
        reset_realtime_settings()

    assert all("id" in reply for reply in replies[:3])
    limited = replies[3]["error"]
    assert limited["code"] == "chat.rate_limited"
    assert 0 < limited["details"]["retryAfterMs"] <= 2000
    assert len(await _stored(chat)) == 3


async def test_resends_keep_rate_budget(
    connect_socket: ConnectSocket, token_for: Any, chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_RATE_BURST", "3")
    monkeypatch.setenv("CHAT_RATE_PER_SECOND", "0.1")
    reset_realtime_settings()
    try:
        buyer = await _joined(connect_socket, token_for, chat.buyer, chat)
        first = await _send(buyer, chat, "primeira", "resend-1")
        # A client back from a lost connection resends what it has no ack for.
        resends = [await _send(buyer, chat, "primeira", "resend-1") for _ in range(3)]
        later = [await _send(buyer, chat, f"nova {i}") for i in range(2)]
    finally:
        monkeypatch.undo()
        reset_realtime_settings()

    assert "id" in first
    assert all(reply.get("duplicate") is True for reply in resends)
    assert all(reply["id"] == first["id"] for reply in resends)
    assert all("id" in reply for reply in later)
    assert len(await _stored(chat)) == 3


async def test_resends_past_burst_stored(
    connect_socket: ConnectSocket, token_for: Any, chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_RATE_BURST", "3")
    monkeypatch.setenv("CHAT_RATE_PER_SECOND", "0.1")
    reset_realtime_settings()
    try:
        buyer = await _joined(connect_socket, token_for, chat.buyer, chat)
        sent = [await _send(buyer, chat, f"m{i}", f"burst-{i}") for i in range(3)]
        # The acks were lost, and the client resends all three at once with its burst spent.
        resends = await asyncio.gather(
            *(_send(buyer, chat, f"m{i}", f"burst-{i}") for i in range(3))
        )
        fresh = await _send(buyer, chat, "nova")
    finally:
        monkeypatch.undo()
        reset_realtime_settings()

    assert [reply.get("duplicate") for reply in resends] == [True] * 3
    assert [reply["id"] for reply in resends] == [reply["id"] for reply in sent]
    assert fresh["error"]["code"] == "chat.rate_limited"
    assert len(await _stored(chat)) == 3


async def test_resend_loop_is_rate_limited(
    connect_socket: ConnectSocket, token_for: Any, chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_RATE_BURST", "3")
    monkeypatch.setenv("CHAT_RATE_PER_SECOND", "0.1")
    monkeypatch.setenv("CHAT_CONTROL_RATE_BURST", "4")
    monkeypatch.setenv("CHAT_CONTROL_RATE_PER_SECOND", "0.1")
    reset_realtime_settings()
    try:
        # Two sockets of one user resend the same message in a loop: each resend reaches
        # the database, so they must not be free.
        phone = await _joined(connect_socket, token_for, chat.buyer, chat)
        tablet = await _joined(connect_socket, token_for, chat.buyer, chat)
        first = await _send(phone, chat, "primeira", "loop-1")
        replies = []
        for _ in range(5):
            replies += await asyncio.gather(
                _send(phone, chat, "primeira", "loop-1"), _send(tablet, chat, "primeira", "loop-1")
            )
    finally:
        monkeypatch.undo()
        reset_realtime_settings()

    assert "id" in first
    duplicates = [reply for reply in replies if reply.get("duplicate") is True]
    limited = [reply for reply in replies if "error" in reply]
    assert all(reply["id"] == first["id"] for reply in duplicates)
    assert all(reply["error"]["code"] == "chat.rate_limited" for reply in limited)
    # The joins took 2 control tokens, so 2 resends are charged there, then 2 message
    # tokens are left; the other resends are limited.
    assert len(duplicates) == 4
    assert len(limited) == 6
    assert len(await _stored(chat)) == 1


@pytest.mark.parametrize("other_body", ["mesma", "outra"])
async def test_concurrent_same_client_id(
    connect_socket: ConnectSocket, token_for: Any, chat: Chat, other_body: str
) -> None:
    phone = await _joined(connect_socket, token_for, chat.buyer, chat)
    tablet = await _joined(connect_socket, token_for, chat.buyer, chat)
    seller = await _joined(connect_socket, token_for, chat.seller, chat)

    replies = await asyncio.gather(
        _send(phone, chat, "mesma", "both-1"), _send(tablet, chat, other_body, "both-1")
    )

    stored = await _stored(chat)
    assert len(stored) == 1
    created = [reply for reply in replies if reply.get("duplicate") is False]
    assert len(created) == 1
    assert created[0]["id"] == str(stored[0].id)
    sent_bodies = ["mesma", other_body]
    other_index = 1 if replies[0] is created[0] else 0
    other = replies[other_index]
    if sent_bodies[other_index] == stored[0].body:
        assert other["duplicate"] is True
        assert other["id"] == created[0]["id"]
    else:
        assert other["error"]["code"] == "chat.client_message_id_reused"
    received = await seller.inbox.wait_for("new_message")
    await seller.inbox.settle()
    assert [event["id"] for event in received] == [created[0]["id"]]


async def test_other_user_same_client_id(
    connect_socket: ConnectSocket, token_for: Any, chat: Chat
) -> None:
    buyer = await _joined(connect_socket, token_for, chat.buyer, chat)
    seller = await _joined(connect_socket, token_for, chat.seller, chat)

    mine = await _send(buyer, chat, "Oi", "shared-1")
    theirs = await _send(seller, chat, "Oi", "shared-1")

    # The id is the sender's own: another user's message is neither returned nor reused.
    assert mine["duplicate"] is False
    assert theirs["duplicate"] is False
    assert theirs["id"] != mine["id"]
    assert [str(message.sender_id) for message in await _stored(chat)] == [
        str(chat.buyer.id),
        str(chat.seller.id),
    ]


async def test_control_events_rate_limited(
    connect_socket: ConnectSocket, token_for: Any, chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_CONTROL_RATE_BURST", "3")
    monkeypatch.setenv("CHAT_CONTROL_RATE_PER_SECOND", "0.1")
    reset_realtime_settings()
    try:
        buyer = await _joined(connect_socket, token_for, chat.buyer, chat)
        ack = await _send(buyer, chat, "oi")
        read = {"conversationId": str(chat.id), "messageId": ack["id"]}
        replies = [await buyer.call("messages_read", read) for _ in range(2)]
        limited = await buyer.call("join_conversation", {"conversationId": str(chat.id)})
        sent_after = await _send(buyer, chat, "ainda posso escrever")
    finally:
        monkeypatch.undo()
        reset_realtime_settings()

    assert all(reply["ok"] is True for reply in replies)
    assert limited["error"]["code"] == "chat.rate_limited"
    assert limited["error"]["details"]["retryAfterMs"] > 0
    # Messages have their own bucket.
    assert "id" in sent_after


async def test_leave_not_rate_limited(
    connect_socket: ConnectSocket, token_for: Any, chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_CONTROL_RATE_BURST", "1")
    monkeypatch.setenv("CHAT_CONTROL_RATE_PER_SECOND", "0.1")
    reset_realtime_settings()
    try:
        # The join takes the only control token.
        buyer = await _joined(connect_socket, token_for, chat.buyer, chat)
        left = await buyer.call("leave_conversation", {"conversationId": str(chat.id)})
    finally:
        monkeypatch.undo()
        reset_realtime_settings()

    assert left == {"ok": True}


async def test_messages_keep_send_order(
    connect_socket: ConnectSocket, token_for: Any, chat: Chat
) -> None:
    buyer = await _joined(connect_socket, token_for, chat.buyer, chat)
    seller = await _joined(connect_socket, token_for, chat.seller, chat)

    # Emitted without waiting for acks: the server must still store them in send order.
    buyer_acks = [
        buyer.client.call(
            "send_message",
            {"conversationId": str(chat.id), "body": f"b{i}", "clientMessageId": f"b{i}"},
            timeout=10,
        )
        for i in range(15)
    ]
    seller_acks = [
        seller.client.call(
            "send_message",
            {"conversationId": str(chat.id), "body": f"s{i}", "clientMessageId": f"s{i}"},
            timeout=10,
        )
        for i in range(15)
    ]
    await asyncio.gather(*buyer_acks, *seller_acks)

    stored = [message.body for message in await _stored(chat)]
    assert [body for body in stored if body.startswith("b")] == [f"b{i}" for i in range(15)]
    assert [body for body in stored if body.startswith("s")] == [f"s{i}" for i in range(15)]
    received_by_seller = await seller.inbox.wait_for("new_message", 15)
    assert [event["body"] for event in received_by_seller] == [f"b{i}" for i in range(15)]
    stamps = [event["createdAt"] for event in received_by_seller]
    assert stamps == sorted(stamps)


async def test_read_receipt_reaches_sender(
    connect_socket: ConnectSocket, token_for: Any, chat: Chat
) -> None:
    buyer = await _joined(connect_socket, token_for, chat.buyer, chat)
    seller = await _joined(connect_socket, token_for, chat.seller, chat)
    ack = await _send(buyer, chat, "Chegou?")

    reply = await seller.call(
        "messages_read", {"conversationId": str(chat.id), "messageId": ack["id"]}
    )
    again = await seller.call(
        "messages_read", {"conversationId": str(chat.id), "messageId": ack["id"]}
    )

    assert reply == {"ok": True, "lastReadMessageId": ack["id"]}
    assert again == {"ok": True, "lastReadMessageId": ack["id"]}
    receipts = await buyer.inbox.wait_for("messages_read")
    await buyer.inbox.settle()
    assert len(receipts) == 1
    assert receipts[0]["conversationId"] == str(chat.id)
    assert receipts[0]["userId"] == str(chat.seller.id)
    assert receipts[0]["messageId"] == ack["id"]
    assert receipts[0]["readAt"]


async def test_read_receipt_unknown_message_rejected(
    connect_socket: ConnectSocket, token_for: Any, chat: Chat
) -> None:
    seller = await _joined(connect_socket, token_for, chat.seller, chat)

    reply = await seller.call(
        "messages_read", {"conversationId": str(chat.id), "messageId": str(uuid.uuid4())}
    )

    assert reply["error"]["code"] == "chat.message_not_found"
    assert reply["error"]["field"] == "messageId"


async def test_leave_conversation_stops_room_events(
    connect_socket: ConnectSocket, token_for: Any, chat: Chat
) -> None:
    buyer = await _joined(connect_socket, token_for, chat.buyer, chat)
    seller = await _joined(connect_socket, token_for, chat.seller, chat)

    reply = await seller.call("leave_conversation", {"conversationId": str(chat.id)})

    assert reply == {"ok": True}
    room = f"conversation:{chat.id}"
    assert seller.client.get_sid() not in dict(sio.manager.get_participants("/", room))
    # The seller's user room still gets the message, once.
    await _send(buyer, chat, "Ainda aí?")
    await seller.inbox.wait_for("new_message")
    await seller.inbox.settle()
    assert len(seller.inbox.events["new_message"]) == 1


async def test_count_after_many_senders(
    connect_socket: ConnectSocket, token_for: Any, chat: Chat
) -> None:
    buyer = await _joined(connect_socket, token_for, chat.buyer, chat)
    await asyncio.gather(*(_send(buyer, chat, f"m{i}", f"id-{i % 5}") for i in range(5)))
    async with session_scope() as session:
        count = await session.scalar(
            select(func.count()).select_from(Message).where(Message.conversation_id == chat.id)
        )
    assert count == 5


async def _chat_notifications(user: User, *, expected: int = 0) -> list[str]:
    """Return the user's chat notifications, waiting up to 5 s for ``expected`` of them.

    Socket sends queue their pushes right after the ack, so they may land a little later.
    """
    from taskgo.notifications.models import Notification

    bodies: list[str] = []
    for _ in range(50):
        async with session_scope() as session:
            result = await session.scalars(
                select(Notification.body)
                .where(Notification.user_id == user.id, Notification.kind == "chat_message")
                .order_by(Notification.created_at)
            )
            bodies = list(result)
        if len(bodies) >= expected:
            break
        await asyncio.sleep(0.1)
    return bodies


async def test_push_only_when_recipient_offline(
    connect_socket: ConnectSocket, token_for: Any, chat: Chat
) -> None:
    buyer = await _joined(connect_socket, token_for, chat.buyer, chat)
    # Connected on another screen, not in the chat: present, so no push.
    seller = await connect_socket(auth={"token": token_for(chat.seller)})

    await _send(buyer, chat, "Enquanto online")
    await seller.inbox.wait_for("new_message")
    await seller.client.disconnect()
    await asyncio.sleep(0.2)
    await _send(buyer, chat, "Depois de sair")

    assert await _chat_notifications(chat.seller, expected=1) == ["Depois de sair"]
    assert await _chat_notifications(chat.buyer) == []

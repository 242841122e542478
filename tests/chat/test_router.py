import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.chat.models import Conversation, Message
from taskgo.notifications.models import Notification
from taskgo.pagination import encode_cursor
from taskgo.purchases.models import Purchase
from taskgo.users.models import User
from tests.conftest import MakeUser

Headers = Callable[..., dict[str, str]]


@pytest.fixture
async def people(make_user: MakeUser) -> dict[str, User]:
    return {
        "buyer": await make_user(name="Bruna"),
        "seller": await make_user(role="partner", name="Sérgio"),
        "outsider": await make_user(name="Curioso"),
    }


async def _purchase(db: AsyncSession, *, buyer: User, seller: User) -> Purchase:
    purchase = Purchase(
        buyer_id=buyer.id,
        seller_id=seller.id,
        total_cents=10_000,
        platform_fee_cents=500,
        escrow_cents=9_500,
        fee_bps=500,
        payment_provider="local",
        transfer_group=f"purchase-{uuid.uuid4()}",
    )
    db.add(purchase)
    await db.flush()
    return purchase


async def _chat_id(client: httpx.AsyncClient, headers: dict[str, str], purchase: Purchase) -> str:
    response = await client.get(f"/api/purchases/{purchase.id}/chat", headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["conversationId"])


async def _post(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    chat_id: str,
    body: Any,
    client_id: str | None = None,
) -> httpx.Response:
    return await client.post(
        f"/api/conversations/{chat_id}/messages",
        json={"body": body, "clientMessageId": client_id or uuid.uuid4().hex},
        headers=headers,
    )


async def test_purchase_chat_same_for_both_sides(
    client: httpx.AsyncClient, db: AsyncSession, people: dict[str, User], auth_headers: Headers
) -> None:
    purchase = await _purchase(db, buyer=people["buyer"], seller=people["seller"])

    from_buyer = await _chat_id(client, auth_headers(people["buyer"]), purchase)
    from_seller = await _chat_id(client, auth_headers(people["seller"]), purchase)
    again = await _chat_id(client, auth_headers(people["buyer"]), purchase)

    assert from_buyer == from_seller == again
    conversation = await db.get(Conversation, uuid.UUID(from_buyer))
    assert conversation is not None
    assert conversation.type == "order_chat"
    assert conversation.purchase_id == purchase.id


async def test_purchase_chat_hidden_from_outsider(
    client: httpx.AsyncClient, db: AsyncSession, people: dict[str, User], auth_headers: Headers
) -> None:
    purchase = await _purchase(db, buyer=people["buyer"], seller=people["seller"])

    outsider = await client.get(
        f"/api/purchases/{purchase.id}/chat", headers=auth_headers(people["outsider"])
    )
    unknown = await client.get(
        f"/api/purchases/{uuid.uuid4()}/chat", headers=auth_headers(people["buyer"])
    )
    anonymous = await client.get(f"/api/purchases/{purchase.id}/chat")

    assert outsider.status_code == 404
    assert outsider.json()["error"]["code"] == "purchase.not_found"
    assert unknown.status_code == 404
    assert anonymous.status_code == 401
    # Denied requests created nothing.
    created = await db.scalar(select(Conversation).where(Conversation.purchase_id == purchase.id))
    assert created is None


async def test_conversation_detail_with_unread_count(
    client: httpx.AsyncClient, db: AsyncSession, people: dict[str, User], auth_headers: Headers
) -> None:
    purchase = await _purchase(db, buyer=people["buyer"], seller=people["seller"])
    chat_id = await _chat_id(client, auth_headers(people["buyer"]), purchase)
    for index in range(3):
        posted = await _post(client, auth_headers(people["buyer"]), chat_id, f"m{index}")
        assert posted.status_code == 201

    response = await client.get(
        f"/api/conversations/{chat_id}", headers=auth_headers(people["seller"])
    )

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == chat_id
    assert body["type"] == "order_chat"
    assert body["purchaseId"] == str(purchase.id)
    assert body["unreadCount"] == 3
    assert {(p["userId"], p["role"]) for p in body["participants"]} == {
        (str(people["buyer"].id), "buyer"),
        (str(people["seller"].id), "seller"),
    }
    hidden = await client.get(
        f"/api/conversations/{chat_id}", headers=auth_headers(people["outsider"])
    )
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "chat.conversation_not_found"


async def test_post_message_idempotent(
    client: httpx.AsyncClient, db: AsyncSession, people: dict[str, User], auth_headers: Headers
) -> None:
    purchase = await _purchase(db, buyer=people["buyer"], seller=people["seller"])
    headers = auth_headers(people["buyer"])
    chat_id = await _chat_id(client, headers, purchase)

    first = await _post(client, headers, chat_id, " Quando chega? ", "c-1")
    second = await _post(client, headers, chat_id, "Quando chega?", "c-1")
    reused = await _post(client, headers, chat_id, "Outra coisa", "c-1")

    assert first.status_code == 201
    assert first.json()["body"] == "Quando chega?"
    assert first.json()["senderId"] == str(people["buyer"].id)
    assert second.status_code == 200
    assert second.json() == first.json()
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "chat.client_message_id_reused"
    assert reused.json()["error"]["details"]["field"] == "clientMessageId"


@pytest.mark.parametrize(
    ("body", "client_id", "code", "field"),
    [
        ("", "c-1", "chat.body_empty", "body"),
        ("x" * 4001, "c-1", "chat.body_too_long", "body"),
        ("oi\x1b[31m", "c-1", "chat.body_control_character", "body"),
        ("oi", "com espaço", "chat.client_message_id_invalid", "clientMessageId"),
    ],
)
async def test_post_message_invalid_422(
    client: httpx.AsyncClient,
    db: AsyncSession,
    people: dict[str, User],
    auth_headers: Headers,
    body: str,
    client_id: str,
    code: str,
    field: str,
) -> None:
    purchase = await _purchase(db, buyer=people["buyer"], seller=people["seller"])
    chat_id = await _chat_id(client, auth_headers(people["buyer"]), purchase)

    portuguese = await _post(client, auth_headers(people["buyer"]), chat_id, body, client_id)
    english = await _post(
        client, auth_headers(people["buyer"], **{"Accept-Language": "en"}), chat_id, body, client_id
    )

    assert portuguese.status_code == 422
    assert portuguese.json()["error"]["code"] == code
    assert portuguese.json()["error"]["details"]["field"] == field
    assert english.json()["error"]["code"] == code
    assert english.json()["error"]["message"] != portuguese.json()["error"]["message"]
    stored = await db.scalar(select(Message).where(Message.conversation_id == uuid.UUID(chat_id)))
    assert stored is None


async def test_post_message_outsider_404(
    client: httpx.AsyncClient, db: AsyncSession, people: dict[str, User], auth_headers: Headers
) -> None:
    purchase = await _purchase(db, buyer=people["buyer"], seller=people["seller"])
    chat_id = await _chat_id(client, auth_headers(people["buyer"]), purchase)

    response = await _post(client, auth_headers(people["outsider"]), chat_id, "oi")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "chat.conversation_not_found"


async def test_history_pages_and_catch_up(
    client: httpx.AsyncClient, db: AsyncSession, people: dict[str, User], auth_headers: Headers
) -> None:
    purchase = await _purchase(db, buyer=people["buyer"], seller=people["seller"])
    buyer, seller = auth_headers(people["buyer"]), auth_headers(people["seller"])
    chat_id = await _chat_id(client, buyer, purchase)
    ids = []
    for index in range(7):
        response = await _post(client, (buyer, seller)[index % 2], chat_id, f"m{index}")
        ids.append(response.json()["id"])
    url = f"/api/conversations/{chat_id}/messages"

    newest: list[str] = []
    params: dict[str, Any] = {"limit": 3}
    for _ in range(5):
        page = (await client.get(url, params=params, headers=seller)).json()
        newest.extend(item["body"] for item in page["items"])
        if page["nextCursor"] is None:
            break
        params["cursor"] = page["nextCursor"]

    missed: list[str] = []
    params = {"after": ids[2], "limit": 2}
    for _ in range(5):
        page = (await client.get(url, params=params, headers=seller)).json()
        missed.extend(item["id"] for item in page["items"])
        if page["nextCursor"] is None:
            break
        params["cursor"] = page["nextCursor"]

    assert newest == [f"m{index}" for index in reversed(range(7))]
    assert missed == ids[3:]


async def test_catch_up_starts_after_anchor(
    client: httpx.AsyncClient, db: AsyncSession, people: dict[str, User], auth_headers: Headers
) -> None:
    purchase = await _purchase(db, buyer=people["buyer"], seller=people["seller"])
    buyer, seller = auth_headers(people["buyer"]), auth_headers(people["seller"])
    chat_id = await _chat_id(client, buyer, purchase)
    ids = [(await _post(client, buyer, chat_id, f"m{index}")).json()["id"] for index in range(3)]
    url = f"/api/conversations/{chat_id}/messages"
    before_all = encode_cursor(datetime(2020, 1, 1, tzinfo=UTC), uuid.uuid4())

    empty_cursor = await client.get(url, params={"after": ids[0], "cursor": ""}, headers=seller)
    older_cursor = await client.get(
        url, params={"after": ids[1], "cursor": before_all}, headers=seller
    )
    unknown = await client.get(
        url, params={"after": str(uuid.uuid4()), "cursor": before_all}, headers=seller
    )

    assert [item["id"] for item in empty_cursor.json()["items"]] == ids[1:]
    assert [item["id"] for item in older_cursor.json()["items"]] == ids[2:]
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "chat.message_not_found"
    assert unknown.json()["error"]["details"]["field"] == "after"


async def test_history_bad_input_rejected(
    client: httpx.AsyncClient, db: AsyncSession, people: dict[str, User], auth_headers: Headers
) -> None:
    purchase = await _purchase(db, buyer=people["buyer"], seller=people["seller"])
    headers = auth_headers(people["buyer"])
    chat_id = await _chat_id(client, headers, purchase)
    url = f"/api/conversations/{chat_id}/messages"

    bad_cursor = await client.get(url, params={"cursor": "%%%"}, headers=headers)
    unknown_after = await client.get(url, params={"after": str(uuid.uuid4())}, headers=headers)
    big_limit = await client.get(url, params={"limit": 101}, headers=headers)
    outsider = await client.get(url, headers=auth_headers(people["outsider"]))

    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["error"]["code"] == "pagination.invalid_cursor"
    assert unknown_after.status_code == 404
    assert unknown_after.json()["error"]["code"] == "chat.message_not_found"
    assert big_limit.status_code == 422
    assert outsider.status_code == 404


async def test_mark_read_route(
    client: httpx.AsyncClient, db: AsyncSession, people: dict[str, User], auth_headers: Headers
) -> None:
    purchase = await _purchase(db, buyer=people["buyer"], seller=people["seller"])
    buyer, seller = auth_headers(people["buyer"]), auth_headers(people["seller"])
    chat_id = await _chat_id(client, buyer, purchase)
    first = (await _post(client, buyer, chat_id, "um")).json()["id"]
    second = (await _post(client, buyer, chat_id, "dois")).json()["id"]

    newer = await client.post(
        f"/api/conversations/{chat_id}/read", json={"messageId": second}, headers=seller
    )
    older = await client.post(
        f"/api/conversations/{chat_id}/read", json={"messageId": first}, headers=seller
    )
    detail = (await client.get(f"/api/conversations/{chat_id}", headers=seller)).json()

    assert newer.status_code == 200
    assert newer.json()["lastReadMessageId"] == second
    assert older.json()["lastReadMessageId"] == second
    assert detail["unreadCount"] == 0


async def test_http_rate_limits(
    client: httpx.AsyncClient,
    db: AsyncSession,
    people: dict[str, User],
    auth_headers: Headers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from taskgo.realtime.settings import reset_realtime_settings

    purchase = await _purchase(db, buyer=people["buyer"], seller=people["seller"])
    buyer = auth_headers(people["buyer"])
    chat_id = await _chat_id(client, buyer, purchase)
    monkeypatch.setenv("CHAT_RATE_BURST", "2")
    monkeypatch.setenv("CHAT_RATE_PER_SECOND", "0.1")
    # The three resends take control tokens instead of message tokens, and the message over
    # the rate takes one for its lookup, leaving one read.
    monkeypatch.setenv("CHAT_CONTROL_RATE_BURST", "5")
    monkeypatch.setenv("CHAT_CONTROL_RATE_PER_SECOND", "0.1")
    reset_realtime_settings()
    try:
        first = await _post(client, buyer, chat_id, "um", "http-resend")
        resends = [await _post(client, buyer, chat_id, "um", "http-resend") for _ in range(3)]
        second = await _post(client, buyer, chat_id, "dois")
        third = await _post(client, buyer, chat_id, "três")
        read = {"messageId": first.json()["id"]}
        reads = [
            await client.post(f"/api/conversations/{chat_id}/read", json=read, headers=buyer)
            for _ in range(2)
        ]
    finally:
        monkeypatch.undo()
        reset_realtime_settings()

    assert first.status_code == 201
    assert [response.status_code for response in resends] == [200, 200, 200]
    # The resends gave their tokens back, so the second new message still fits the burst.
    assert second.status_code == 201
    assert third.status_code == 429
    assert third.json()["error"]["code"] == "chat.rate_limited"
    assert [response.status_code for response in reads] == [200, 429]


async def test_http_resend_past_burst(
    client: httpx.AsyncClient,
    db: AsyncSession,
    people: dict[str, User],
    auth_headers: Headers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from taskgo.realtime.settings import reset_realtime_settings

    purchase = await _purchase(db, buyer=people["buyer"], seller=people["seller"])
    buyer = auth_headers(people["buyer"])
    chat_id = await _chat_id(client, buyer, purchase)
    monkeypatch.setenv("CHAT_RATE_BURST", "1")
    monkeypatch.setenv("CHAT_RATE_PER_SECOND", "0.1")
    reset_realtime_settings()
    try:
        first = await _post(client, buyer, chat_id, "um", "http-burst")
        other = await _post(client, buyer, chat_id, "dois")
        resend = await _post(client, buyer, chat_id, "um", "http-burst")
        reused = await _post(client, buyer, chat_id, "outro", "http-burst")
    finally:
        monkeypatch.undo()
        reset_realtime_settings()

    assert first.status_code == 201
    assert other.status_code == 429
    assert resend.status_code == 200
    assert resend.json()["id"] == first.json()["id"]
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "chat.client_message_id_reused"


async def test_http_invalid_message_keeps_budget(
    client: httpx.AsyncClient,
    db: AsyncSession,
    people: dict[str, User],
    auth_headers: Headers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from taskgo.realtime.settings import reset_realtime_settings

    purchase = await _purchase(db, buyer=people["buyer"], seller=people["seller"])
    buyer = auth_headers(people["buyer"])
    chat_id = await _chat_id(client, buyer, purchase)
    monkeypatch.setenv("CHAT_RATE_BURST", "1")
    monkeypatch.setenv("CHAT_RATE_PER_SECOND", "0.1")
    reset_realtime_settings()
    try:
        # Over Socket.IO an invalid message is rejected before the rate check, and the
        # HTTP route must not count it either.
        blank = await _post(client, buyer, chat_id, "   ")
        bad_id = await _post(client, buyer, chat_id, "oi", "x" * 65)
        sent = await _post(client, buyer, chat_id, "oi")
    finally:
        monkeypatch.undo()
        reset_realtime_settings()

    assert blank.status_code == 422
    assert blank.json()["error"]["code"] == "chat.body_empty"
    assert bad_id.status_code == 422
    assert bad_id.json()["error"]["details"]["field"] == "clientMessageId"
    assert sent.status_code == 201


async def test_offline_participant_gets_push(
    client: httpx.AsyncClient, db: AsyncSession, people: dict[str, User], auth_headers: Headers
) -> None:
    purchase = await _purchase(db, buyer=people["buyer"], seller=people["seller"])
    chat_id = await _chat_id(client, auth_headers(people["buyer"]), purchase)
    long_body = "Olá " + "palavra " * 100

    response = await _post(client, auth_headers(people["buyer"]), chat_id, long_body)

    assert response.status_code == 201
    rows = (
        await db.execute(
            select(
                Notification.user_id,
                Notification.kind,
                Notification.title,
                Notification.body,
                Notification.data,
            )
        )
    ).all()
    assert len(rows) == 1
    row = rows[0]
    assert row.user_id == people["seller"].id
    assert row.kind == "chat_message"
    assert row.title == "Nova mensagem de Bruna"
    assert row.body.startswith("Olá palavra")
    assert row.body.endswith("…")
    assert len(row.body) <= 200
    assert row.data == {"conversationId": chat_id, "messageId": response.json()["id"]}
    jobs = await db.scalar(
        text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'notifications.send_push'")
    )
    assert jobs == 1

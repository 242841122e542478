"""The Socket.IO path: `support_message` in, `support_delta`... `support_done` out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from taskgo.db.session import session_scope
from taskgo.support.models import SupportConversation, SupportMessage
from tests.conftest import MakeUser
from tests.standins.openai_server import BreakStream, OpenAIStandIn, Reply
from tests.support.conftest import SetEnv, new_conversation
from tests.support.sockets import ConnectClient
from tests.support.test_tools import create_product, make_purchase

pytestmark = pytest.mark.timeout(60)

Headers = Callable[..., dict[str, str]]


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def _stored(conversation_id: str) -> list[SupportMessage]:
    async with session_scope() as session:
        rows = await session.scalars(
            select(SupportMessage)
            .where(SupportMessage.conversation_id == conversation_id)
            .order_by(SupportMessage.created_at)
        )
        return list(rows)


async def test_offline_reply_streams(
    live_client: httpx.AsyncClient,
    make_live_user: MakeUser,
    auth_headers: Headers,
    connect_client: ConnectClient,
) -> None:
    user = await make_live_user()
    headers = auth_headers(user)
    conversation_id = await new_conversation(live_client, headers)
    socket = await connect_client(token=_token(headers))

    ack = await socket.client.call(
        "support_message",
        {"conversationId": conversation_id, "content": "Como cancelar uma compra?"},
        timeout=5,
    )
    done = (await socket.wait_for("support_done"))[0]

    assert ack == {"ok": True, "conversationId": conversation_id, "clientMessageId": None}
    deltas = socket.events["support_delta"]
    assert len(deltas) > 5
    assert [delta["index"] for delta in deltas] == list(range(len(deltas)))
    assert "".join(delta["delta"] for delta in deltas) == done["message"]["content"]
    assert done["message"]["role"] == "assistant"
    assert done["userMessage"]["content"] == "Como cancelar uma compra?"
    assert done["needsHuman"] is False
    stored = await _stored(conversation_id)
    assert [row.role for row in stored] == ["user", "assistant"]
    assert stored[1].content == done["message"]["content"]


async def test_short_order_number(
    live_client: httpx.AsyncClient,
    make_live_user: MakeUser,
    auth_headers: Headers,
    connect_client: ConnectClient,
) -> None:
    user = await make_live_user()
    seller = await make_live_user(role="partner", name="Loja", verification_status="verified")
    product_id = await create_product(live_client, auth_headers(seller), title="Furadeira")
    async with session_scope() as session:
        purchase = await make_purchase(
            session, product_id=product_id, buyer=user, seller=seller, title="Furadeira"
        )
    short = str(purchase.id)[:8]
    headers = auth_headers(user)
    conversation_id = await new_conversation(live_client, headers)
    socket = await connect_client(token=_token(headers))

    await socket.client.call(
        "support_message",
        {"conversationId": conversation_id, "content": f"pedido #{short.upper()}"},
        timeout=5,
    )
    done = (await socket.wait_for("support_done"))[0]

    assert done["message"]["content"].startswith(f"Pedido #{short}: enviado.")


async def test_openai_reply_streams(
    live_client: httpx.AsyncClient,
    make_live_user: MakeUser,
    auth_headers: Headers,
    connect_client: ConnectClient,
    use_openai: OpenAIStandIn,
) -> None:
    text = "Seu pedido foi enviado ontem e chega em breve."
    use_openai.script(Reply(text, chunk_size=6))
    user = await make_live_user()
    headers = auth_headers(user)
    conversation_id = await new_conversation(live_client, headers)
    socket = await connect_client(token=_token(headers))

    await socket.client.call(
        "support_message",
        {"conversationId": conversation_id, "content": "cadê?", "clientMessageId": "m-1"},
        timeout=5,
    )
    done = (await socket.wait_for("support_done"))[0]

    deltas = [delta["delta"] for delta in socket.events["support_delta"]]
    assert deltas == [text[index : index + 6] for index in range(0, len(text), 6)]
    assert done["message"]["content"] == text
    assert done["clientMessageId"] == "m-1"
    assert use_openai.requests[0]["stream"] is True


async def test_client_message_id_replays(
    live_client: httpx.AsyncClient,
    make_live_user: MakeUser,
    auth_headers: Headers,
    connect_client: ConnectClient,
    use_openai: OpenAIStandIn,
) -> None:
    use_openai.script(Reply("Uma resposta só."))
    user = await make_live_user()
    headers = auth_headers(user)
    conversation_id = await new_conversation(live_client, headers)
    socket = await connect_client(token=_token(headers))
    payload = {"conversationId": conversation_id, "content": "oi", "clientMessageId": "same"}

    await socket.client.call("support_message", payload, timeout=5)
    await socket.wait_for("support_done")
    await socket.client.call("support_message", payload, timeout=5)
    done = await socket.wait_for("support_done", 2)

    assert done[1]["replayed"] is True
    assert done[1]["message"]["id"] == done[0]["message"]["id"]
    assert len(use_openai.requests) == 1
    assert len(await _stored(conversation_id)) == 2


async def test_stream_broken_gives_fallback(
    live_client: httpx.AsyncClient,
    make_live_user: MakeUser,
    auth_headers: Headers,
    connect_client: ConnectClient,
    use_openai: OpenAIStandIn,
) -> None:
    use_openai.script(BreakStream("Seu pedido está em"))
    user = await make_live_user()
    headers = auth_headers(user)
    conversation_id = await new_conversation(live_client, headers)
    socket = await connect_client(token=_token(headers))

    await socket.client.call(
        "support_message", {"conversationId": conversation_id, "content": "cadê?"}, timeout=5
    )
    done = (await socket.wait_for("support_done"))[0]

    streamed = "".join(delta["delta"] for delta in socket.events["support_delta"])
    assert streamed == "Seu pedido está em"
    assert done["message"]["content"].startswith("Desculpe, não consegui responder agora")
    assert done["needsHuman"] is True
    assert len(use_openai.requests) == 1
    async with session_scope() as session:
        conversation = await session.get(SupportConversation, conversation_id)
        assert conversation is not None
        assert conversation.flag_detail == "unavailable"


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        ("texto solto", "support.invalid_payload", "payload"),
        (
            {"conversationId": "abc", "content": "oi"},
            "support.invalid_conversation_id",
            "conversationId",
        ),
        ({"content": "oi"}, "support.invalid_conversation_id", "conversationId"),
        (
            {"conversationId": "00000000-0000-4000-8000-000000000000", "content": 5},
            "support.message_empty",
            "content",
        ),
        (
            {
                "conversationId": "00000000-0000-4000-8000-000000000000",
                "content": "oi",
                "clientMessageId": "x" * 101,
            },
            "support.invalid_payload",
            "clientMessageId",
        ),
        # These were acked as accepted, and a NUL then failed the turn in the database.
        (
            {"conversationId": "00000000-0000-4000-8000-000000000000", "content": "oi\x00"},
            "support.message_null_character",
            "content",
        ),
        (
            {"conversationId": "00000000-0000-4000-8000-000000000000", "content": "   "},
            "support.message_empty",
            "content",
        ),
    ],
)
async def test_bad_payload_acked_with_error(
    live_client: httpx.AsyncClient,
    make_live_user: MakeUser,
    auth_headers: Headers,
    connect_client: ConnectClient,
    payload: Any,
    code: str,
    field: str,
) -> None:
    user = await make_live_user()
    socket = await connect_client(token=_token(auth_headers(user)), locale="en")

    ack = await socket.client.call("support_message", payload, timeout=5)

    assert ack["error"]["code"] == code
    assert ack["error"]["field"] == field
    assert ack["error"]["message"]


async def test_other_users_conversation_refused(
    live_client: httpx.AsyncClient,
    make_live_user: MakeUser,
    auth_headers: Headers,
    connect_client: ConnectClient,
) -> None:
    owner = await make_live_user(name="Ana")
    intruder = await make_live_user(name="Bruno")
    conversation_id = await new_conversation(live_client, auth_headers(owner))
    socket = await connect_client(token=_token(auth_headers(intruder)))

    ack = await socket.client.call(
        "support_message", {"conversationId": conversation_id, "content": "oi"}, timeout=5
    )

    assert ack["error"]["code"] == "support.conversation_not_found"
    async with session_scope() as session:
        count = await session.scalar(select(func.count()).select_from(SupportMessage))
    assert count == 0


async def test_rate_limit_sent_as_support_error(
    live_client: httpx.AsyncClient,
    make_live_user: MakeUser,
    auth_headers: Headers,
    connect_client: ConnectClient,
    support_env: SetEnv,
) -> None:
    support_env(SUPPORT_RATE_LIMIT_MESSAGES=1)
    user = await make_live_user()
    headers = auth_headers(user)
    conversation_id = await new_conversation(live_client, headers)
    socket = await connect_client(token=_token(headers))

    await socket.client.call(
        "support_message", {"conversationId": conversation_id, "content": "qual a taxa?"}
    )
    await socket.wait_for("support_done")
    await socket.client.call(
        "support_message",
        {"conversationId": conversation_id, "content": "e o prazo?", "clientMessageId": "c2"},
    )
    error = (await socket.wait_for("support_error"))[0]

    assert error["clientMessageId"] == "c2"
    assert error["error"]["code"] == "support.rate_limited"
    assert len(await _stored(conversation_id)) == 2


async def test_extra_arguments_still_acked(
    live_client: httpx.AsyncClient,
    make_live_user: MakeUser,
    auth_headers: Headers,
    connect_client: ConnectClient,
) -> None:
    user = await make_live_user()
    headers = auth_headers(user)
    conversation_id = await new_conversation(live_client, headers)
    socket = await connect_client(token=_token(headers))

    ack = await socket.client.call(
        "support_message",
        ({"conversationId": conversation_id, "content": "Oi"}, "extra"),
        timeout=5,
    )
    await socket.wait_for("support_done")

    assert ack["ok"] is True

"""Support routes with the default offline provider."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.admin.models import AuditLog
from taskgo.support.models import SupportConversation, SupportMessage
from taskgo.users.models import User
from tests.conftest import MakeUser
from tests.support.conftest import SetEnv, new_conversation

Headers = Callable[..., dict[str, str]]


async def _count_messages(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(SupportMessage)) or 0)


async def _send(
    client: httpx.AsyncClient, headers: dict[str, str], conversation_id: str, content: str
) -> httpx.Response:
    return await client.post(
        f"/api/support/conversations/{conversation_id}/messages",
        json={"content": content},
        headers=headers,
    )


async def test_create_and_get_conversation(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user()
    headers = auth_headers(user)

    conversation_id = await new_conversation(client, headers)
    detail = await client.get(f"/api/support/conversations/{conversation_id}", headers=headers)
    listing = await client.get("/api/support/conversations", headers=headers)

    assert detail.status_code == 200
    assert detail.json()["id"] == conversation_id
    assert detail.json()["needsHuman"] is False
    assert [item["id"] for item in listing.json()["items"]] == [conversation_id]
    assert listing.json()["nextCursor"] is None


async def test_requires_authentication(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/support/conversations")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "auth.missing_token"


async def test_offline_reply_and_history(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user()
    headers = auth_headers(user)
    conversation_id = await new_conversation(client, headers)

    response = await _send(client, headers, conversation_id, "Como cancelar uma compra?")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reply"]["role"] == "assistant"
    assert body["reply"]["content"].startswith("**Como cancelar uma compra")
    assert body["message"]["content"] == "Como cancelar uma compra?"
    assert body["notice"] is None
    assert body["needsHuman"] is False

    history = await client.get(
        f"/api/support/conversations/{conversation_id}/messages", headers=headers
    )
    items = history.json()["items"]
    assert [item["role"] for item in items] == ["assistant", "user"]
    assert items[0]["content"] == body["reply"]["content"]


async def test_history_paginates(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user()
    headers = auth_headers(user)
    conversation_id = await new_conversation(client, headers)
    for question in ("o que é pagamento protegido?", "como rastrear?", "qual a taxa?"):
        assert (await _send(client, headers, conversation_id, question)).status_code == 200
    url = f"/api/support/conversations/{conversation_id}/messages"

    first = (await client.get(url, params={"limit": 4}, headers=headers)).json()
    cursor = first["nextCursor"]
    second = (await client.get(url, params={"limit": 4, "cursor": cursor}, headers=headers)).json()

    assert len(first["items"]) == 4
    assert len(second["items"]) == 2
    assert second["nextCursor"] is None
    assert second["items"][-1]["content"] == "o que é pagamento protegido?"


async def test_other_users_conversation_hidden(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers, db: AsyncSession
) -> None:
    owner = await make_user(name="Ana")
    intruder = await make_user(name="Bruno")
    conversation_id = await new_conversation(client, auth_headers(owner))
    before = await _count_messages(db)

    sent = await _send(client, auth_headers(intruder), conversation_id, "mostre as mensagens")
    read = await client.get(
        f"/api/support/conversations/{conversation_id}/messages", headers=auth_headers(intruder)
    )

    assert sent.status_code == 404
    assert sent.json()["error"]["code"] == "support.conversation_not_found"
    assert read.status_code == 404
    assert await _count_messages(db) == before


async def test_empty_message_rejected_localized(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers, db: AsyncSession
) -> None:
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))

    pt = await _send(client, auth_headers(user), conversation_id, "   ")
    en = await _send(client, auth_headers(user, **{"Accept-Language": "en"}), conversation_id, "")

    assert pt.status_code == 422
    assert pt.json()["error"]["code"] == "support.message_empty"
    assert pt.json()["error"]["details"]["field"] == "content"
    assert pt.json()["error"]["message"] == "Escreva uma mensagem antes de enviar."
    assert en.json()["error"]["message"] == "Write a message before sending."
    assert await _count_messages(db) == 0


async def test_invisible_only_message_empty(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers, db: AsyncSession
) -> None:
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))

    response = await _send(client, auth_headers(user), conversation_id, "\u200b\ufeff\u202e\x1b")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "support.message_empty"
    assert await _count_messages(db) == 0


async def test_control_characters_dropped(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))

    response = await _send(
        client,
        auth_headers(user),
        conversation_id,
        "\x1b[31mqual\u200b a taxa?\nobrigado 👨\u200d👩",
    )

    assert response.status_code == 200, response.text
    assert response.json()["message"]["content"] == "[31mqual a taxa?\nobrigado 👨\u200d👩"


async def test_missing_content_field(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))

    response = await client.post(
        f"/api/support/conversations/{conversation_id}/messages",
        json={"text": "oi"},
        headers=auth_headers(user),
    )

    assert response.status_code == 422
    assert "content" in response.text


async def test_huge_message_rejected(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers, support_env: SetEnv
) -> None:
    support_env(SUPPORT_MAX_REQUEST_CHARS=5000)
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))

    response = await _send(client, auth_headers(user), conversation_id, "a" * 5001)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "support.message_too_long"
    assert "5001" in response.json()["error"]["message"]


async def test_pasted_text_cut_with_notice(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))
    pasted = "erro no app " * 2000 + " como cancelar a compra?"

    response = await _send(client, auth_headers(user), conversation_id, pasted)

    body = response.json()
    assert response.status_code == 200
    assert body["notice"].startswith("Sua mensagem era longa demais")
    assert body["message"]["truncated"] is True
    assert len(body["message"]["content"]) <= 4000
    assert "caracteres foram cortados aqui" in body["message"]["content"]
    assert body["message"]["content"].endswith("como cancelar a compra?")


async def test_personal_data_stored_redacted(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers, db: AsyncSession
) -> None:
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))

    response = await _send(
        client,
        auth_headers(user),
        conversation_id,
        "Meu CPF é 529.982.247-25 e meu celular (11) 98765-4321, qual a taxa?",
    )

    assert response.status_code == 200
    assert response.json()["message"]["content"] == (
        "Meu CPF é [CPF] e meu celular [TELEFONE], qual a taxa?"
    )
    stored = (await db.scalars(select(SupportMessage.content))).all()
    assert not any("529.982.247-25" in text or "98765-4321" in text for text in stored)
    row = await db.scalar(select(SupportMessage).where(SupportMessage.role == "user"))
    assert row is not None
    assert row.redactions == {"cpf": 1, "phone": 1}


async def test_human_request_flags_for_admin(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers, db: AsyncSession
) -> None:
    user = await make_user()
    admin = await make_user(role="admin", name="Equipe")
    conversation_id = await new_conversation(client, auth_headers(user))

    response = await _send(
        client, auth_headers(user), conversation_id, "quero falar com um atendente"
    )

    assert response.status_code == 200
    assert response.json()["needsHuman"] is True
    assert response.json()["reply"]["content"].startswith("Certo! Encaminhei")
    flagged = await client.get("/api/admin/support/conversations", headers=auth_headers(admin))
    assert [item["id"] for item in flagged.json()["items"]] == [conversation_id]
    assert flagged.json()["items"][0]["flagReason"] == "human_requested"

    denied = await client.get("/api/admin/support/conversations", headers=auth_headers(user))
    assert denied.status_code == 403

    reply = await client.post(
        f"/api/admin/support/conversations/{conversation_id}/messages",
        json={"content": "Olá, sou a Carla da equipe. Como posso ajudar?"},
        headers=auth_headers(admin),
    )
    assert reply.status_code == 201
    assert reply.json()["role"] == "agent"

    resolved = await client.post(
        f"/api/admin/support/conversations/{conversation_id}/resolve", headers=auth_headers(admin)
    )
    assert resolved.json()["needsHuman"] is False
    conversation = await db.get(SupportConversation, resolved.json()["id"])
    assert conversation is not None
    await db.refresh(conversation)
    assert conversation.flag_reason is None
    actions = (await db.scalars(select(AuditLog.action).order_by(AuditLog.created_at))).all()
    assert actions == ["support.agent_replied", "support.flag_resolved"]
    history = await client.get(
        f"/api/support/conversations/{conversation_id}/messages", headers=auth_headers(user)
    )
    assert [item["role"] for item in history.json()["items"]] == ["agent", "assistant", "user"]


async def test_rate_limit_per_user(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth_headers: Headers,
    support_env: SetEnv,
    db: AsyncSession,
) -> None:
    support_env(SUPPORT_RATE_LIMIT_MESSAGES=2, SUPPORT_RATE_LIMIT_WINDOW_SECONDS=60)
    user = await make_user()
    other = await make_user(name="Outra")
    conversation_id = await new_conversation(client, auth_headers(user))
    other_conversation = await new_conversation(client, auth_headers(other))

    first = await _send(client, auth_headers(user), conversation_id, "qual a taxa?")
    second = await _send(client, auth_headers(user), conversation_id, "e o prazo?")
    third = await _send(client, auth_headers(user), conversation_id, "e agora?")
    others = await _send(client, auth_headers(other), other_conversation, "qual a taxa?")

    assert first.status_code == 200
    assert second.status_code == 200
    assert third.status_code == 429
    assert third.json()["error"]["code"] == "support.rate_limited"
    assert 1 <= third.json()["error"]["details"]["retryAfterSeconds"] <= 60
    assert others.status_code == 200
    assert await _count_messages(db) == 6


async def test_daily_token_budget(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth_headers: Headers,
    support_env: SetEnv,
    db: AsyncSession,
) -> None:
    support_env(SUPPORT_DAILY_TOKEN_BUDGET=1000)
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))
    db.add(
        SupportMessage(
            conversation_id=conversation_id,
            user_id=user.id,
            role="assistant",
            content="resposta anterior",
            prompt_tokens=900,
            completion_tokens=100,
            created_at=datetime.now(UTC),
        )
    )
    await db.flush()

    response = await _send(client, auth_headers(user), conversation_id, "qual a taxa?")

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "support.daily_budget_exhausted"
    assert "resetsAt" in response.json()["error"]["details"]
    assert await _count_messages(db) == 1


async def test_offline_usage_counted(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers, db: AsyncSession
) -> None:
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))

    await _send(client, auth_headers(user), conversation_id, "qual a taxa?")

    reply = await db.scalar(select(SupportMessage).where(SupportMessage.role == "assistant"))
    assert reply is not None
    assert reply.provider == "offline"
    assert reply.prompt_tokens > 0
    assert reply.completion_tokens > 0


async def test_idempotency_key_replays(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers, db: AsyncSession
) -> None:
    user: User = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))
    headers = auth_headers(user, **{"Idempotency-Key": "msg-1"})
    url = f"/api/support/conversations/{conversation_id}/messages"

    first = await client.post(url, json={"content": "qual a taxa?"}, headers=headers)
    again = await client.post(url, json={"content": "qual a taxa?"}, headers=headers)
    other = await client.post(url, json={"content": "outra coisa"}, headers=headers)

    assert first.status_code == 200
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert await _count_messages(db) == 2

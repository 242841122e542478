"""Support routes with AI_PROVIDER=openai against the local OpenAI-compatible stand-in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.support.history import cut_pasted_text
from taskgo.support.models import SupportConversation, SupportMessage
from tests.conftest import MakeUser
from tests.standins.openai_server import (
    CallTools,
    OpenAIStandIn,
    Reply,
    Stall,
    insufficient_quota,
    rate_limited,
    server_error,
)
from tests.support.conftest import SetEnv, new_conversation

Headers = Callable[..., dict[str, str]]

FALLBACK_PT = "Desculpe, não consegui responder agora"


async def _send(
    client: httpx.AsyncClient, headers: dict[str, str], conversation_id: str, content: str
) -> httpx.Response:
    return await client.post(
        f"/api/support/conversations/{conversation_id}/messages",
        json={"content": content},
        headers=headers,
    )


def _all_request_text(standin: OpenAIStandIn) -> str:
    return json.dumps(standin.requests, ensure_ascii=False)


async def test_reply_through_model(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth_headers: Headers,
    use_openai: OpenAIStandIn,
    db: AsyncSession,
) -> None:
    use_openai.script(Reply("Você pode cancelar antes do envio em Meus pedidos.", usage=(850, 14)))
    user = await make_user(name="Ana Souza")
    conversation_id = await new_conversation(client, auth_headers(user))

    response = await _send(client, auth_headers(user), conversation_id, "Posso cancelar?")

    assert response.status_code == 200, response.text
    assert response.json()["reply"] == {
        "id": response.json()["reply"]["id"],
        "role": "assistant",
        "content": "Você pode cancelar antes do envio em Meus pedidos.",
        "createdAt": response.json()["reply"]["createdAt"],
    }
    request = use_openai.requests[0]
    assert request["messages"][0]["role"] == "system"
    assert "TaskGo" in request["messages"][0]["content"]
    assert "Primeiro nome do usuário: Ana." in request["messages"][0]["content"]
    assert "Souza" not in request["messages"][0]["content"]
    assert request["messages"][-1] == {"role": "user", "content": "Posso cancelar?"}
    assert {tool["function"]["name"] for tool in request["tools"]} == {
        "list_my_purchases",
        "get_purchase_tracking",
        "list_my_service_orders",
        "get_service_order",
        "search_help_center",
    }
    reply = await db.scalar(select(SupportMessage).where(SupportMessage.role == "assistant"))
    assert reply is not None
    assert (reply.provider, reply.model) == ("openai", "gpt-4o-mini")
    assert (reply.prompt_tokens, reply.completion_tokens) == (850, 14)


async def test_history_sent_on_next_turn(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers, use_openai: OpenAIStandIn
) -> None:
    use_openai.script(Reply("Primeira resposta."), Reply("Segunda resposta."))
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))

    await _send(client, auth_headers(user), conversation_id, "primeira pergunta")
    await _send(client, auth_headers(user), conversation_id, "segunda pergunta")

    roles_and_text = [
        (message["role"], message["content"]) for message in use_openai.requests[1]["messages"][1:]
    ]
    assert roles_and_text == [
        ("user", "primeira pergunta"),
        ("assistant", "Primeira resposta."),
        ("user", "segunda pergunta"),
    ]


async def test_personal_data_never_sent(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers, use_openai: OpenAIStandIn
) -> None:
    use_openai.script(Reply("Entendi."), Reply("Certo."))
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))
    secrets = [
        "529.982.247-25",
        "12.ABC.345/01DE-35",
        "11.222.333/0001-81",
        "(11) 98765-4321",
        "maria.souza@gmail.com",
        "123e4567-e89b-42d3-a456-426614174000",
        "0012345-6",
        "4111 1111 1111 1111",
    ]
    text = (
        f"Meu CPF {secrets[0]}, CNPJ {secrets[1]} e {secrets[2]}, tel {secrets[3]}, "
        f"email {secrets[4]}, chave pix {secrets[5]}, agência 1234 conta {secrets[6]}, "
        f"cartão {secrets[7]}. Qual a taxa?"
    )

    await _send(client, auth_headers(user), conversation_id, text)
    await _send(client, auth_headers(user), conversation_id, "e o prazo?")

    sent = _all_request_text(use_openai)
    for secret in secrets:
        assert secret not in sent
    assert "98765" not in sent
    assert "52998224725" not in sent.replace(".", "").replace("-", "")
    for label in ("[CPF]", "[CNPJ]", "[TELEFONE]", "[E-MAIL]", "[CHAVE PIX]", "[CARTÃO]"):
        assert label in sent


def _paste_cut_through_cpf(cpf: str) -> str:
    """Build a long paste whose cut (at 4,000 characters) falls inside `cpf`."""
    for pad in range(2600, 3000):
        text = "x" * pad + f" cpf {cpf} " + "y " * 3000 + "qual a taxa?"
        cut, _ = cut_pasted_text(text, max_chars=4000, locale="pt_BR")
        if cpf[:7] in cut and cpf[:11] not in cut:
            return text
    raise AssertionError("no cut falls inside the CPF")


async def test_paste_cut_keeps_cpf_hidden(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers, use_openai: OpenAIStandIn
) -> None:
    use_openai.script(Reply("Entendi."))
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))

    response = await _send(
        client, auth_headers(user), conversation_id, _paste_cut_through_cpf("529 982 247 25")
    )

    assert response.status_code == 200, response.text
    assert response.json()["message"]["truncated"] is True
    assert "529 982" not in _all_request_text(use_openai)
    assert "529 982" not in response.json()["message"]["content"]


async def test_missing_usage_estimated_for_budget(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth_headers: Headers,
    use_openai: OpenAIStandIn,
    support_env: SetEnv,
    db: AsyncSession,
) -> None:
    support_env(SUPPORT_DAILY_TOKEN_BUDGET=1000)
    use_openai.script(Reply("Entendi.", usage=(0, 0)))
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))

    first = await _send(client, auth_headers(user), conversation_id, "qual a taxa?")
    second = await _send(client, auth_headers(user), conversation_id, "e o prazo?")

    assert first.status_code == 200, first.text
    reply = await db.scalar(select(SupportMessage).where(SupportMessage.role == "assistant"))
    assert reply is not None
    # The tool schemas alone are several hundred tokens.
    assert reply.prompt_tokens > 500
    assert reply.completion_tokens > 0
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "support.daily_budget_exhausted"


async def test_quota_exhausted_falls_back_and_flags(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth_headers: Headers,
    use_openai: OpenAIStandIn,
    db: AsyncSession,
) -> None:
    use_openai.script(insufficient_quota(), Reply("never sent"))
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))

    response = await _send(client, auth_headers(user), conversation_id, "Onde está meu pedido?")

    assert response.status_code == 200
    assert response.json()["reply"]["content"].startswith(FALLBACK_PT)
    assert "atendente humano" in response.json()["reply"]["content"]
    assert response.json()["needsHuman"] is True
    assert len(use_openai.requests) == 1
    conversation = await db.get(SupportConversation, conversation_id)
    assert conversation is not None
    assert conversation.flag_reason == "provider_failure"
    assert conversation.flag_detail == "quota_exhausted"
    assert conversation.flagged_at is not None
    reply = await db.scalar(select(SupportMessage).where(SupportMessage.role == "assistant"))
    assert reply is not None
    assert reply.error_kind == "quota_exhausted"


async def test_fallback_in_english(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers, use_openai: OpenAIStandIn
) -> None:
    use_openai.script(server_error(), server_error(), server_error())
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))

    response = await _send(
        client, auth_headers(user, **{"Accept-Language": "en-US"}), conversation_id, "help"
    )

    assert response.json()["reply"]["content"].startswith("Sorry, I could not answer right now")
    assert len(use_openai.requests) == 3


async def test_rate_limit_retried_then_answered(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth_headers: Headers,
    use_openai: OpenAIStandIn,
    db: AsyncSession,
) -> None:
    use_openai.script(rate_limited(), Reply("Tudo certo agora."))
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))

    response = await _send(client, auth_headers(user), conversation_id, "oi")

    assert response.json()["reply"]["content"] == "Tudo certo agora."
    assert response.json()["needsHuman"] is False
    assert len(use_openai.requests) == 2
    conversation = await db.get(SupportConversation, conversation_id)
    assert conversation is not None
    assert conversation.needs_human is False


@pytest.mark.timeout(30)
async def test_timeout_falls_back(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth_headers: Headers,
    use_openai: OpenAIStandIn,
    support_env: SetEnv,
) -> None:
    support_env(OPENAI_TIMEOUT_SECONDS=0.3, OPENAI_MAX_ATTEMPTS=2)
    use_openai.script(Stall(1.0, then=Reply("late")), Stall(1.0, then=Reply("late")))
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))

    response = await _send(client, auth_headers(user), conversation_id, "oi")

    assert response.json()["reply"]["content"].startswith(FALLBACK_PT)
    assert response.json()["needsHuman"] is True


async def test_context_too_long_retries_trimmed(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth_headers: Headers,
    use_openai: OpenAIStandIn,
    db: AsyncSession,
) -> None:
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))
    # Written two days ago, so neither the rate limit nor today's budget counts them.
    start = datetime.now(UTC) - timedelta(days=2)
    for index in range(12):
        for offset, role in enumerate(("user", "assistant")):
            db.add(
                SupportMessage(
                    conversation_id=conversation_id,
                    user_id=user.id,
                    role=role,
                    content=f"mensagem antiga {index} " + "palavra " * 60,
                    created_at=start + timedelta(minutes=2 * index + offset),
                )
            )
    await db.flush()
    # The stand-in counts tokens its own way; this window fits about half our budget.
    use_openai.context_window = 3500
    use_openai.script(Reply("Resposta curta."))

    response = await _send(client, auth_headers(user), conversation_id, "e então?")

    assert response.status_code == 200, response.text
    assert response.json()["reply"]["content"] == "Resposta curta."
    assert len(use_openai.requests) == 2
    first, second = use_openai.requests
    assert len(second["messages"]) < len(first["messages"])
    assert second["messages"][0]["role"] == "system"
    assert second["messages"][-1] == {"role": "user", "content": "e então?"}


async def test_help_center_tool_round(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers, use_openai: OpenAIStandIn
) -> None:
    use_openai.script(
        CallTools([("search_help_center", {"query": "cancelar compra reembolso"})]),
        Reply("Você pode cancelar antes do envio."),
    )
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))

    response = await _send(client, auth_headers(user), conversation_id, "como cancelo?")

    assert response.json()["reply"]["content"] == "Você pode cancelar antes do envio."
    tool_message = use_openai.requests[1]["messages"][-1]
    assert tool_message["role"] == "tool"
    articles = json.loads(tool_message["content"])["articles"]
    assert articles[0]["id"] == "cancelamento"


async def test_bad_tool_arguments_reported_to_model(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers, use_openai: OpenAIStandIn
) -> None:
    use_openai.script(
        CallTools(
            [
                ("get_purchase_tracking", {"purchase_id": "not-a-uuid"}),
                ("list_my_purchases", {"user_id": "someone-else"}),
                ("search_help_center", "{not json"),
            ]
        ),
        Reply("Não consegui consultar."),
    )
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))

    await _send(client, auth_headers(user), conversation_id, "pedido?")

    results = [
        json.loads(message["content"])
        for message in use_openai.requests[1]["messages"]
        if message["role"] == "tool"
    ]
    assert [result["error"]["code"] for result in results] == ["invalid_arguments"] * 3
    assert "purchase_id" in results[0]["error"]["message"]
    assert "user_id" in results[1]["error"]["message"]


async def test_tool_loop_ends_with_text(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth_headers: Headers,
    use_openai: OpenAIStandIn,
    support_env: SetEnv,
) -> None:
    support_env(SUPPORT_MAX_TOOL_ROUNDS=2)
    use_openai.script(
        CallTools([("search_help_center", {"query": "taxa"})]), Reply("A taxa é de 5%.")
    )
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))

    response = await _send(client, auth_headers(user), conversation_id, "qual a taxa?")

    assert response.json()["reply"]["content"] == "A taxa é de 5%."
    assert use_openai.requests[0]["tool_choice"] == "auto"
    assert use_openai.requests[1]["tool_choice"] == "none"


async def test_human_request_skips_model(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers, use_openai: OpenAIStandIn
) -> None:
    user = await make_user()
    conversation_id = await new_conversation(client, auth_headers(user))

    response = await _send(client, auth_headers(user), conversation_id, "falar com atendente")

    assert response.json()["needsHuman"] is True
    assert use_openai.requests == []


def _tool_results(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        json.loads(message["content"])
        for request in requests
        for message in request["messages"]
        if message["role"] == "tool"
    ]


@pytest.mark.timeout(30)
async def test_concurrent_turns_of_one_user(
    live_client: httpx.AsyncClient,
    make_live_user: MakeUser,
    auth_headers: Headers,
    use_openai: OpenAIStandIn,
) -> None:
    use_openai.script(Stall(1.0, then=Reply("Primeira.")), Reply("Terceira."))
    user = await make_live_user()
    conversation_id = await new_conversation(live_client, auth_headers(user))

    async def second_after_first_started() -> httpx.Response:
        await asyncio.sleep(0.4)
        return await _send(live_client, auth_headers(user), conversation_id, "segunda")

    first, second = await asyncio.gather(
        _send(live_client, auth_headers(user), conversation_id, "primeira"),
        second_after_first_started(),
    )
    third = await _send(live_client, auth_headers(user), conversation_id, "terceira")

    assert first.status_code == 200
    assert first.json()["reply"]["content"] == "Primeira."
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "support.reply_in_progress"
    assert third.json()["reply"]["content"] == "Terceira."
    history = await live_client.get(
        f"/api/support/conversations/{conversation_id}/messages", headers=auth_headers(user)
    )
    assert [item["content"] for item in history.json()["items"]] == [
        "Terceira.",
        "terceira",
        "Primeira.",
        "primeira",
    ]

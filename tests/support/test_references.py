"""Short order numbers, "#a3ee91f2" as the assistant prints them, find the user's own orders."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import MakeUser
from tests.standins.openai_server import CallTools, OpenAIStandIn, Reply
from tests.support.conftest import new_conversation
from tests.support.test_tools import SAO_PAULO, add_event, make_purchase, open_shop

Headers = Callable[..., dict[str, str]]

MINE = uuid.UUID("a3ee91f2-1d2a-4e5f-8a9b-426614174000")
# Same first 8 hex digits as MINE.
MINE_TOO = uuid.UUID("a3ee91f2-77aa-4bcd-9e0f-112233445566")
THEIRS = uuid.UUID("b7c1d2e3-0a0b-4c0d-8e0f-aabbccddeeff")
THEIRS_SAME_PREFIX = uuid.UUID("a3ee91f2-ffff-4fff-bfff-ffffffffffff")


async def _ask(client: httpx.AsyncClient, headers: dict[str, str], text: str) -> str:
    conversation_id = await new_conversation(client, headers)
    response = await client.post(
        f"/api/support/conversations/{conversation_id}/messages",
        json={"content": text},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    content: str = response.json()["reply"]["content"]
    return content


async def _service_order(
    client: httpx.AsyncClient, headers: dict[str, str], description: str
) -> str:
    response = await client.post(
        "/api/service-orders",
        json={"category": "pintura", "description": description, **SAO_PAULO},
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
    order_id: str = response.json()["id"]
    return order_id


def _tool_results(standin: OpenAIStandIn) -> list[dict[str, Any]]:
    return [
        json.loads(message["content"])
        for message in standin.requests[-1]["messages"]
        if message["role"] == "tool"
    ]


@pytest.mark.parametrize(
    "question",
    [
        "pedido #a3ee91f2",
        "compra A3EE91F2",
        "Onde está a compra #a3ee91f2?",
        "Qual o status do pedido #a3ee91f2?",
        "Pedido nº a3ee91f2-1d2a, já foi enviado?",
    ],
)
async def test_short_number_gives_status(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth_headers: Headers,
    db: AsyncSession,
    question: str,
) -> None:
    me = await make_user()
    seller, product_id = await open_shop(client, make_user, auth_headers)
    mine = await make_purchase(
        db, product_id=product_id, buyer=me, seller=seller, title="Furadeira", purchase_id=MINE
    )
    await add_event(db, mine, description="Objeto em trânsito - por favor aguarde")

    content = await _ask(client, auth_headers(me), question)

    assert content.startswith("Pedido #a3ee91f2: enviado.")
    assert "Objeto em trânsito - por favor aguarde (Curitiba - PR)" in content
    assert "Não encontrei" not in content


async def test_short_number_in_english(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers, db: AsyncSession
) -> None:
    me = await make_user()
    seller, product_id = await open_shop(client, make_user, auth_headers)
    await make_purchase(
        db, product_id=product_id, buyer=me, seller=seller, title="Furadeira", purchase_id=MINE
    )

    content = await _ask(
        client,
        auth_headers(me, **{"Accept-Language": "en"}),
        "What is the status of order #A3EE91F2?",
    )

    assert content.startswith("Order #a3ee91f2: shipped.")


async def test_others_number_same_as_unknown(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers, db: AsyncSession
) -> None:
    me = await make_user()
    victim = await make_user(name="Beatriz")
    seller, product_id = await open_shop(client, make_user, auth_headers)
    await make_purchase(
        db,
        product_id=product_id,
        buyer=victim,
        seller=seller,
        title="Notebook da Beatriz",
        purchase_id=THEIRS,
    )

    theirs = await _ask(client, auth_headers(me), "pedido #b7c1d2e3")
    unknown = await _ask(client, auth_headers(me), "pedido #b7c1d2e4")
    english = await _ask(client, auth_headers(me, **{"Accept-Language": "en"}), "order #b7c1d2e3")

    assert theirs.startswith("Não encontrei nenhum pedido seu com o número #b7c1d2e3,")
    assert theirs == unknown.replace("#b7c1d2e4", "#b7c1d2e3")
    assert "Notebook" not in theirs
    assert english.startswith("I found no order of yours with number #b7c1d2e3,")


async def test_shared_prefix_asks_which(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers, db: AsyncSession
) -> None:
    me = await make_user()
    stranger = await make_user(name="Carlos")
    seller, product_id = await open_shop(client, make_user, auth_headers)
    for purchase_id, title in ((MINE, "Furadeira"), (MINE_TOO, "Serra")):
        await make_purchase(
            db, product_id=product_id, buyer=me, seller=seller, title=title, purchase_id=purchase_id
        )
    await make_purchase(
        db,
        product_id=product_id,
        buyer=stranger,
        seller=seller,
        title="Geladeira do Carlos",
        purchase_id=THEIRS_SAME_PREFIX,
    )

    content = await _ask(client, auth_headers(me), "Qual o status do pedido #a3ee91f2?")
    chosen = await _ask(client, auth_headers(me), f"Qual o status do pedido {MINE_TOO}?")

    assert content.startswith("Mais de um pedido seu começa com #a3ee91f2.")
    assert f"Compra {MINE} " in content
    assert f"Compra {MINE_TOO} " in content
    assert str(THEIRS_SAME_PREFIX) not in content
    assert "Geladeira" not in content
    assert "Pedido #a3ee91f2:" not in content
    assert chosen.startswith("Pedido #a3ee91f2: enviado.")


async def test_service_order_short_number(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    me = await make_user()
    order_id = await _service_order(client, auth_headers(me), "Pintar a sala de 20 m²")
    short = order_id[:8]

    by_order = await _ask(client, auth_headers(me), f"e a minha ordem #{short.upper()}?")
    by_pedido = await _ask(client, auth_headers(me), f"status do pedido #{short}")

    for content in (by_order, by_pedido):
        assert content.startswith(f"Ordem de serviço #{short} (Pintura, criada em ")
        assert "aberta, aguardando um parceiro" in content
        assert "Não encontrei" not in content


async def test_admin_sees_only_own_orders(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    admin = await make_user(role="admin", name="Equipe")
    client_user = await make_user(name="Beatriz")
    order_id = await _service_order(client, auth_headers(client_user), "Trocar disjuntor")

    by_short = await _ask(client, auth_headers(admin), f"ordem de serviço #{order_id[:8]}")
    by_full = await _ask(client, auth_headers(admin), f"ordem de serviço {order_id}")

    assert by_short.startswith(
        f"Não encontrei nenhuma ordem de serviço sua com o número #{order_id[:8]}."
    )
    assert by_full.startswith(
        f"Não encontrei nenhuma ordem de serviço sua com o número {order_id}."
    )


async def test_model_tools_take_short_number(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth_headers: Headers,
    use_openai: OpenAIStandIn,
    db: AsyncSession,
) -> None:
    me = await make_user()
    seller, product_id = await open_shop(client, make_user, auth_headers)
    await make_purchase(
        db, product_id=product_id, buyer=me, seller=seller, title="Furadeira", purchase_id=MINE
    )
    order_id = await _service_order(client, auth_headers(me), "Pintar a sala")
    use_openai.script(
        CallTools(
            [
                ("get_purchase_tracking", {"purchase_id": "#A3EE91F2"}),
                ("get_service_order", {"service_order_id": order_id[:8]}),
            ]
        ),
        Reply("Aqui está."),
    )
    conversation_id = await new_conversation(client, auth_headers(me))

    response = await client.post(
        f"/api/support/conversations/{conversation_id}/messages",
        json={"content": "pedidos #a3ee91f2 e #" + order_id[:8]},
        headers=auth_headers(me),
    )

    assert response.status_code == 200, response.text
    purchase, order = _tool_results(use_openai)
    assert purchase["purchaseId"] == str(MINE)
    assert purchase["items"] == ["Furadeira x1"]
    assert order["serviceOrderId"] == order_id
    assert order["status"] == "open"


async def test_model_shared_prefix_ambiguous(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth_headers: Headers,
    use_openai: OpenAIStandIn,
    db: AsyncSession,
) -> None:
    me = await make_user()
    stranger = await make_user(name="Carlos")
    seller, product_id = await open_shop(client, make_user, auth_headers)
    for buyer, purchase_id, title in (
        (me, MINE, "Furadeira"),
        (me, MINE_TOO, "Serra"),
        (stranger, THEIRS_SAME_PREFIX, "Geladeira do Carlos"),
        (stranger, THEIRS, "Notebook da Beatriz"),
    ):
        await make_purchase(
            db,
            product_id=product_id,
            buyer=buyer,
            seller=seller,
            title=title,
            purchase_id=purchase_id,
        )
    use_openai.script(
        CallTools(
            [
                ("get_purchase_tracking", {"purchase_id": "a3ee91f2"}),
                ("get_purchase_tracking", {"purchase_id": "#b7c1d2e3"}),
                ("get_purchase_tracking", {"purchase_id": "#b7c1d2e4"}),
                ("get_purchase_tracking", {"purchase_id": "#a3ee"}),
            ]
        ),
        Reply("Qual deles?"),
    )
    conversation_id = await new_conversation(client, auth_headers(me))

    response = await client.post(
        f"/api/support/conversations/{conversation_id}/messages",
        json={"content": "pedido #a3ee91f2"},
        headers=auth_headers(me),
    )

    assert response.status_code == 200, response.text
    ambiguous, theirs, unknown, too_short = _tool_results(use_openai)
    assert ambiguous["error"]["code"] == "ambiguous_reference"
    assert {match["purchaseId"] for match in ambiguous["error"]["matches"]} == {
        str(MINE),
        str(MINE_TOO),
    }
    assert theirs["error"] == {**unknown["error"], "reference": "#b7c1d2e3"}
    assert theirs["error"]["code"] == "purchase_not_found"
    assert too_short["error"]["code"] == "invalid_arguments"
    assert "purchase_id" in too_short["error"]["message"]
    sent = json.dumps(use_openai.requests, ensure_ascii=False)
    assert "Geladeira" not in sent
    assert "Notebook" not in sent

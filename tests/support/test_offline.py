from __future__ import annotations

import json

import pytest

from taskgo.support.assistant import MAX_CALLS_PER_ROUND
from taskgo.support.knowledge import help_index, load_corpus, parse_article
from taskgo.support.offline import OfflineProvider
from taskgo.support.provider import ChatMessage, Completion, TextDelta
from taskgo.support.tools import TOOL_DEFINITIONS

SYSTEM = ChatMessage(role="system", content="Você é o suporte.")
PURCHASE_ID = "3f2b1c9e-1d2a-4e5f-8a9b-426614174000"


def _ask(text: str) -> list[ChatMessage]:
    return [SYSTEM, ChatMessage(role="user", content=text)]


def _answer_tools(
    messages: list[ChatMessage], completion: Completion, results: dict[str, object]
) -> list[ChatMessage]:
    extended = [
        *messages,
        ChatMessage(role="assistant", content=None, tool_calls=completion.tool_calls),
    ]
    for call in completion.tool_calls:
        extended.append(
            ChatMessage(role="tool", content=json.dumps(results[call.name]), tool_call_id=call.id)
        )
    return extended


def test_corpus_covers_required_topics() -> None:
    topics = {article.topic for article in load_corpus()}

    assert {
        "tracking",
        "escrow",
        "cancellation",
        "verification",
        "bank_accounts",
        "service_orders",
    } <= topics


@pytest.mark.parametrize(
    ("question", "article_id"),
    [
        ("Como rastrear meu pedido?", "rastreamento"),
        ("como funciona o pagamento protegido?", "pagamento-protegido"),
        ("quero cancelar minha compra", "cancelamento"),
        ("minha verificação de identidade foi reprovada", "verificacao-identidade"),
        ("como cadastrar chave pix para receber", "contas-bancarias"),
        ("como pedir um serviço de pintura?", "ordens-de-servico"),
        ("quando o vendedor recebe o dinheiro da venda?", "vendedor-recebimento"),
        ("o produto chegou quebrado", "problema-entrega"),
    ],
)
def test_search_finds_topic_article(question: str, article_id: str) -> None:
    hits = help_index().search(question)

    assert hits
    assert hits[0].article.id == article_id


def test_parse_article_rejects_missing_header() -> None:
    with pytest.raises(ValueError, match="header"):
        parse_article("sem cabeçalho", name="x.md")
    with pytest.raises(ValueError, match="lacks header fields"):
        parse_article("---\nid: x\n---\ncorpo", name="x.md")


async def test_offline_answers_from_article() -> None:
    provider = OfflineProvider(locale="pt_BR")

    completion = await provider.complete(
        messages=_ask("Como funciona o pagamento protegido?"), tools=TOOL_DEFINITIONS
    )

    assert completion.tool_calls == ()
    assert completion.content is not None
    assert completion.content.startswith("**Pagamento protegido")
    assert "Posso ajudar em mais alguma coisa?" in completion.content


async def test_offline_is_deterministic() -> None:
    provider = OfflineProvider(locale="pt_BR")
    messages = _ask("quero cancelar e ter reembolso")

    first = await provider.complete(messages=messages, tools=TOOL_DEFINITIONS)
    second = await provider.complete(messages=messages, tools=TOOL_DEFINITIONS)

    assert first == second


async def test_offline_unknown_question_offers_human() -> None:
    provider = OfflineProvider(locale="pt_BR")

    completion = await provider.complete(
        messages=_ask("receita de bolo de cenoura"), tools=TOOL_DEFINITIONS
    )

    assert completion.content is not None
    assert "falar com atendente" in completion.content


async def test_offline_where_is_my_order_uses_tools() -> None:
    provider = OfflineProvider(locale="pt_BR")
    messages = _ask("Onde está meu pedido?")

    first = await provider.complete(messages=messages, tools=TOOL_DEFINITIONS)

    assert [call.name for call in first.tool_calls] == ["list_my_purchases"]
    listing = {
        "purchases": [
            {
                "purchaseId": PURCHASE_ID,
                "status": "shipped",
                "role": "buyer",
                "total": "150.00",
                "totalFormatted": "R$ 150,00",
                "items": ["Furadeira x1"],
                "trackingCode": "AA123456785BR",
                "createdAt": "2026-11-30T15:00:00+00:00",
            }
        ],
        "count": 1,
    }
    messages = _answer_tools(messages, first, {"list_my_purchases": listing})

    second = await provider.complete(messages=messages, tools=TOOL_DEFINITIONS)

    assert [call.name for call in second.tool_calls] == ["get_purchase_tracking"]
    assert json.loads(second.tool_calls[0].arguments) == {"purchase_id": PURCHASE_ID}
    tracking = {
        "purchaseId": PURCHASE_ID,
        "status": "shipped",
        "trackingCode": "AA123456785BR",
        "events": [
            {
                "status": "in_transit",
                "description": "Objeto em trânsito - por favor aguarde",
                "location": "Curitiba - PR",
                "occurredAt": "2026-12-01T12:30:00+00:00",
            }
        ],
        "releaseAt": None,
    }
    messages = _answer_tools(messages, second, {"get_purchase_tracking": tracking})

    final = await provider.complete(messages=messages, tools=TOOL_DEFINITIONS)

    assert final.tool_calls == ()
    assert final.content is not None
    assert "#3f2b1c9e" in final.content
    assert "Furadeira x1" in final.content
    assert "R$ 150,00" in final.content
    assert "Objeto em trânsito - por favor aguarde (Curitiba - PR)" in final.content
    assert "01/12/2026" in final.content


async def test_offline_purchase_id_calls_tracking() -> None:
    provider = OfflineProvider(locale="en")
    messages = _ask(f"where is my order {PURCHASE_ID.upper()}?")

    first = await provider.complete(messages=messages, tools=TOOL_DEFINITIONS)

    assert [call.name for call in first.tool_calls] == ["get_purchase_tracking"]
    rejected = {"error": {"code": "purchase_not_found", "message": "not yours"}}
    messages = _answer_tools(messages, first, {"get_purchase_tracking": rejected})

    final = await provider.complete(messages=messages, tools=TOOL_DEFINITIONS)

    assert final.content is not None
    assert final.content.startswith("I found no purchase of yours")


async def test_offline_service_orders() -> None:
    provider = OfflineProvider(locale="pt_BR")
    messages = _ask("quais são minhas ordens de serviço?")

    first = await provider.complete(messages=messages, tools=TOOL_DEFINITIONS)

    assert [call.name for call in first.tool_calls] == ["list_my_service_orders"]
    orders = {
        "serviceOrders": [
            {
                "serviceOrderId": "0b7e2f4a-1111-4222-8333-444455556666",
                "status": "accepted",
                "category": "pintura",
                "createdAt": "2026-12-02T10:00:00+00:00",
            }
        ]
    }
    messages = _answer_tools(messages, first, {"list_my_service_orders": orders})

    final = await provider.complete(messages=messages, tools=TOOL_DEFINITIONS)

    assert final.content is not None
    assert "Ordem #0b7e2f4a" in final.content
    assert "aceita por um parceiro" in final.content


async def test_offline_tool_choice_none_forces_text() -> None:
    provider = OfflineProvider(locale="pt_BR")

    completion = await provider.complete(
        messages=_ask("onde está meu pedido?"), tools=TOOL_DEFINITIONS, tool_choice="none"
    )

    assert completion.tool_calls == ()
    assert completion.content


async def test_offline_stream_matches_complete() -> None:
    provider = OfflineProvider(locale="pt_BR")
    messages = _ask("como cancelar uma compra?")
    deltas: list[str] = []
    final: Completion | None = None

    async for event in provider.stream(messages=messages, tools=TOOL_DEFINITIONS):
        if isinstance(event, TextDelta):
            deltas.append(event.text)
        else:
            final = event

    assert final is not None
    assert len(deltas) > 5
    assert "".join(deltas) == final.content


@pytest.mark.parametrize(
    ("question", "expected", "number"),
    [
        ("pedido #3F2B1C9E", ["get_purchase_tracking", "get_service_order"], "#3f2b1c9e"),
        ("onde está a compra 3f2b1c9e?", ["get_purchase_tracking"], "#3f2b1c9e"),
        ("status da ordem de serviço #3f2b1c9e", ["get_service_order"], "#3f2b1c9e"),
        (
            f"qual o status do meu pedido {PURCHASE_ID}?",
            ["get_purchase_tracking", "get_service_order"],
            PURCHASE_ID,
        ),
    ],
)
async def test_offline_order_number_looked_up(
    question: str, expected: list[str], number: str
) -> None:
    provider = OfflineProvider(locale="pt_BR")

    completion = await provider.complete(messages=_ask(question), tools=TOOL_DEFINITIONS)

    assert [call.name for call in completion.tool_calls] == expected
    for call in completion.tool_calls:
        assert list(json.loads(call.arguments).values()) == [number]


@pytest.mark.parametrize(
    "question",
    ["meu CEP é 01310100, onde está meu pedido?", "onde está meu pedido? paguei 12345678 centavos"],
)
async def test_offline_bare_digits_not_a_number(question: str) -> None:
    provider = OfflineProvider(locale="pt_BR")

    completion = await provider.complete(messages=_ask(question), tools=TOOL_DEFINITIONS)

    assert [call.name for call in completion.tool_calls] == ["list_my_purchases"]


async def test_offline_found_hides_other_kind() -> None:
    provider = OfflineProvider(locale="pt_BR")
    messages = _ask("pedido #3f2b1c9e")
    first = await provider.complete(messages=messages, tools=TOOL_DEFINITIONS)
    tracking = {"purchaseId": PURCHASE_ID, "status": "paid", "trackingCode": None, "events": []}
    missing = {"error": {"code": "service_order_not_found", "reference": "#3f2b1c9e"}}
    messages = _answer_tools(
        messages, first, {"get_purchase_tracking": tracking, "get_service_order": missing}
    )

    final = await provider.complete(messages=messages, tools=TOOL_DEFINITIONS)

    assert final.content is not None
    assert final.content.startswith("Pedido #3f2b1c9e: pago, aguardando envio.")
    assert "Não encontrei" not in final.content


async def test_offline_numbers_fit_one_round() -> None:
    provider = OfflineProvider(locale="pt_BR")
    question = "pedidos #3f2b1c9e, #0b7e2f4a e #11112222"

    completion = await provider.complete(messages=_ask(question), tools=TOOL_DEFINITIONS)

    assert len(completion.tool_calls) <= MAX_CALLS_PER_ROUND
    assert {json.loads(call.arguments)["purchase_id"] for call in completion.tool_calls[:2]} == {
        "#3f2b1c9e",
        "#0b7e2f4a",
    }

"""Read-only tools the model may call, always scoped to the user who is talking.

The caller comes from the authenticated session and is bound when the lookup is built.
No tool takes a user id argument, and arguments with unknown fields are rejected. A
purchase id that is not the caller's gets the same answer as one that does not exist, so
the model cannot even learn that another user's purchase exists.

Orders can be named by their full id or by the short number the assistant shows
("#a3ee91f2"). A short number is looked up among the caller's own orders only. One match
gives the same result as its full id, several give `ambiguous_reference` with the
candidates, and none gives the same `not_found` as an unknown id.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import structlog
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError

from taskgo.support.client import parse_arguments
from taskgo.support.knowledge import help_index
from taskgo.support.provider import ToolCall
from taskgo.support.redaction import redact_data
from taskgo.support.references import OrderReference, parse_reference

log = structlog.get_logger(__name__)

# Tool results are sent to the model, so they are capped to keep the prompt small.
MAX_RESULT_CHARS = 6000

LIST_MY_PURCHASES = "list_my_purchases"
GET_PURCHASE_TRACKING = "get_purchase_tracking"
LIST_MY_SERVICE_ORDERS = "list_my_service_orders"
GET_SERVICE_ORDER = "get_service_order"
SEARCH_HELP_CENTER = "search_help_center"


class _Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ListPurchasesArguments(_Arguments):
    status: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=5, ge=1, le=20)


# More orders of the user than this starting with one short number are not listed.
MAX_REFERENCE_MATCHES = 5


def _reference(value: object) -> OrderReference:
    if not isinstance(value, str):
        raise ValueError("an order number is a string")
    return parse_reference(value)


Reference = Annotated[OrderReference, PlainValidator(_reference)]


class PurchaseTrackingArguments(_Arguments):
    purchase_id: Reference


class ServiceOrderArguments(_Arguments):
    service_order_id: Reference


class ListServiceOrdersArguments(_Arguments):
    status: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=5, ge=1, le=20)


class SearchHelpArguments(_Arguments):
    query: str = Field(min_length=2, max_length=300)


def _function(
    name: str, description: str, properties: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
    }


_STATUS_PROPERTY = {"type": "string", "description": "Optional status filter."}
_LIMIT_PROPERTY = {"type": "integer", "minimum": 1, "maximum": 20, "description": "Default 5."}
_REFERENCE_HELP = (
    "O id completo (UUID) ou o número curto mostrado ao usuário, os 8 primeiros "
    "caracteres do id, com ou sem '#' (por exemplo #a3ee91f2)."
)

TOOL_DEFINITIONS: tuple[dict[str, Any], ...] = (
    _function(
        LIST_MY_PURCHASES,
        "Lista as compras e vendas mais recentes do usuário logado, com status, valor, "
        "código de rastreio e data prevista de liberação do pagamento.",
        {"status": _STATUS_PROPERTY, "limit": _LIMIT_PROPERTY},
        [],
    ),
    _function(
        GET_PURCHASE_TRACKING,
        "Retorna o status e o rastreamento (eventos dos Correios) de uma compra do usuário "
        "logado. Só funciona para compras em que ele é comprador ou vendedor. Se o número "
        "curto servir para mais de uma compra, devolve o erro ambiguous_reference com as "
        "opções: pergunte ao usuário qual delas.",
        {"purchase_id": {"type": "string", "description": f"Número da compra. {_REFERENCE_HELP}"}},
        ["purchase_id"],
    ),
    _function(
        LIST_MY_SERVICE_ORDERS,
        "Lista as ordens de serviço do usuário logado (as que ele pediu ou, se for "
        "parceiro, as que aceitou), com categoria e status.",
        {"status": _STATUS_PROPERTY, "limit": _LIMIT_PROPERTY},
        [],
    ),
    _function(
        GET_SERVICE_ORDER,
        "Retorna uma ordem de serviço do usuário logado (que ele pediu ou, se for parceiro, "
        "que aceitou), com categoria e status. Se o número curto servir para mais de uma "
        "ordem, devolve o erro ambiguous_reference com as opções: pergunte ao usuário qual.",
        {
            "service_order_id": {
                "type": "string",
                "description": f"Número da ordem de serviço. {_REFERENCE_HELP}",
            }
        },
        ["service_order_id"],
    ),
    _function(
        SEARCH_HELP_CENTER,
        "Busca artigos da central de ajuda do TaskGo (pagamento protegido, cancelamento, "
        "rastreamento, verificação, contas bancárias, ordens de serviço).",
        {"query": {"type": "string", "description": "A dúvida, em poucas palavras."}},
        ["query"],
    ),
)


class OrderLookup(Protocol):
    """Read access to one user's own orders; the user is bound when the lookup is built."""

    async def list_purchases(self, *, status: str | None, limit: int) -> list[dict[str, Any]]: ...

    async def get_tracking(self, *, purchase_id: uuid.UUID) -> dict[str, Any] | None:
        """Return tracking of a purchase the user bought or sold, or None."""
        ...

    async def find_purchases(
        self, *, reference: OrderReference, limit: int
    ) -> list[dict[str, Any]]:
        """Return the user's purchases and sales whose id starts with `reference`."""
        ...

    async def list_service_orders(
        self, *, status: str | None, limit: int
    ) -> list[dict[str, Any]]: ...

    async def get_service_order(self, *, order_id: uuid.UUID) -> dict[str, Any] | None:
        """Return a service order the user posted or took, or None."""
        ...

    async def find_service_orders(
        self, *, reference: OrderReference, limit: int
    ) -> list[dict[str, Any]]:
        """Return the user's service orders whose id starts with `reference`."""
        ...


class LookupUnavailable(Exception):
    """The domain service behind a tool is missing or failed; the model gets an error result."""


@dataclass(frozen=True, slots=True)
class ToolResult:
    name: str
    content: str
    ok: bool


def _dump(value: dict[str, Any]) -> str:
    text = json.dumps(redact_data(value), ensure_ascii=False, default=str)
    if len(text) <= MAX_RESULT_CHARS:
        return text
    # A cut JSON text is invalid, so mark the result as shortened instead.
    return json.dumps(
        {"truncated": True, "partial": text[: MAX_RESULT_CHARS - 200]}, ensure_ascii=False
    )


def _error(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **details}}


def _not_found(code: str, kind: str, reference: OrderReference) -> dict[str, Any]:
    return _error(
        code,
        f"No {kind} with this number belongs to the current user. Only the user's own "
        f"{kind}s can be looked up.",
        reference=reference.label,
    )


def _ambiguous(
    kind: str, reference: OrderReference, matches: list[dict[str, Any]]
) -> dict[str, Any]:
    return _error(
        "ambiguous_reference",
        f"Several of the user's {kind}s start with this number. Ask the user which one they "
        "mean, listing these, and do not pick one yourself.",
        reference=reference.label,
        matches=matches[:MAX_REFERENCE_MATCHES],
        more=len(matches) > MAX_REFERENCE_MATCHES,
    )


class SupportTools:
    """The tool set for one user's turn."""

    def __init__(self, *, user_id: uuid.UUID, lookup: OrderLookup) -> None:
        self._user_id = user_id
        self._lookup = lookup

    @property
    def definitions(self) -> Sequence[dict[str, Any]]:
        return TOOL_DEFINITIONS

    async def run(self, call: ToolCall) -> ToolResult:
        try:
            arguments = parse_arguments(call)
        except ValueError:
            return self._result(call, _error("invalid_arguments", "Arguments are not JSON."))

        try:
            payload = await self._dispatch(call.name, arguments)
        except LookupUnavailable:
            payload = _error("lookup_unavailable", "This lookup is not available right now.")
        except ValidationError as error:
            fields = sorted(
                {".".join(str(part) for part in item["loc"]) for item in error.errors()}
            )
            payload = _error("invalid_arguments", f"Invalid arguments: {', '.join(fields)}.")
        log.info(
            "support.tool.called",
            tool=call.name,
            user_id=str(self._user_id),
            ok="error" not in payload,
        )
        return self._result(call, payload)

    def _result(self, call: ToolCall, payload: dict[str, Any]) -> ToolResult:
        return ToolResult(name=call.name, content=_dump(payload), ok="error" not in payload)

    async def _dispatch(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        if name == LIST_MY_PURCHASES:
            parsed = ListPurchasesArguments.model_validate(arguments)
            purchases = await self._lookup.list_purchases(status=parsed.status, limit=parsed.limit)
            return {"purchases": purchases, "count": len(purchases)}

        if name == GET_PURCHASE_TRACKING:
            reference = PurchaseTrackingArguments.model_validate(arguments).purchase_id

            async def tracking(order_id: uuid.UUID) -> dict[str, Any] | None:
                return await self._lookup.get_tracking(purchase_id=order_id)

            return await self._one_order(
                reference,
                kind="purchase",
                id_field="purchaseId",
                find=self._lookup.find_purchases,
                get=tracking,
            )

        if name == LIST_MY_SERVICE_ORDERS:
            listed = ListServiceOrdersArguments.model_validate(arguments)
            orders = await self._lookup.list_service_orders(
                status=listed.status, limit=listed.limit
            )
            return {"serviceOrders": orders, "count": len(orders)}

        if name == GET_SERVICE_ORDER:
            reference = ServiceOrderArguments.model_validate(arguments).service_order_id

            async def service_order(order_id: uuid.UUID) -> dict[str, Any] | None:
                return await self._lookup.get_service_order(order_id=order_id)

            return await self._one_order(
                reference,
                kind="service order",
                id_field="serviceOrderId",
                find=self._lookup.find_service_orders,
                get=service_order,
            )

        if name == SEARCH_HELP_CENTER:
            query = SearchHelpArguments.model_validate(arguments).query
            hits = help_index().search(query, limit=2, min_score=1.5)
            return {
                "articles": [
                    {"id": hit.article.id, "title": hit.article.title, "content": hit.article.body}
                    for hit in hits
                ]
            }

        return _error("unknown_tool", f"There is no tool named {name!r}.")

    async def _one_order(
        self,
        reference: OrderReference,
        *,
        kind: str,
        id_field: str,
        find: Callable[..., Awaitable[list[dict[str, Any]]]],
        get: Callable[[uuid.UUID], Awaitable[dict[str, Any] | None]],
    ) -> dict[str, Any]:
        """Look up one of the user's orders by its full id or by the digits it starts with."""
        order_id = reference.full_id
        if order_id is None:
            matches = await find(reference=reference, limit=MAX_REFERENCE_MATCHES + 1)
            if len(matches) > 1:
                return _ambiguous(kind, reference, matches)
            if matches:
                order_id = uuid.UUID(matches[0][id_field])
        found = await get(order_id) if order_id is not None else None
        if found is None:
            return _not_found(f"{kind.replace(' ', '_')}_not_found", kind, reference)
        return found

"""Read-only tools the model may call, always scoped to the user who is talking.

The caller comes from the authenticated session and is bound when the lookup is built.
No tool takes a user id argument, and arguments with unknown fields are rejected. A
purchase id that is not the caller's gets the same answer as one that does not exist, so
the model cannot even learn that another user's purchase exists.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from taskgo.support.client import parse_arguments
from taskgo.support.knowledge import help_index
from taskgo.support.provider import ToolCall
from taskgo.support.redaction import redact_data

log = structlog.get_logger(__name__)

# Tool results are sent to the model, so they are capped to keep the prompt small.
MAX_RESULT_CHARS = 6000

LIST_MY_PURCHASES = "list_my_purchases"
GET_PURCHASE_TRACKING = "get_purchase_tracking"
LIST_MY_SERVICE_ORDERS = "list_my_service_orders"
SEARCH_HELP_CENTER = "search_help_center"


class _Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ListPurchasesArguments(_Arguments):
    status: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=5, ge=1, le=20)


class PurchaseTrackingArguments(_Arguments):
    purchase_id: uuid.UUID


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
        "Retorna o rastreamento (eventos dos Correios) de uma compra do usuário logado. "
        "Só funciona para compras em que ele é comprador ou vendedor.",
        {"purchase_id": {"type": "string", "description": "Id (UUID) da compra."}},
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

    async def list_service_orders(
        self, *, status: str | None, limit: int
    ) -> list[dict[str, Any]]: ...


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


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


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
            tracked = PurchaseTrackingArguments.model_validate(arguments)
            tracking = await self._lookup.get_tracking(purchase_id=tracked.purchase_id)
            if tracking is None:
                return _error(
                    "purchase_not_found",
                    "No purchase with this id belongs to the current user. Only the user's "
                    "own purchases can be looked up.",
                )
            return tracking

        if name == LIST_MY_SERVICE_ORDERS:
            listed = ListServiceOrdersArguments.model_validate(arguments)
            orders = await self._lookup.list_service_orders(
                status=listed.status, limit=listed.limit
            )
            return {"serviceOrders": orders, "count": len(orders)}

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

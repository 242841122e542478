"""A deterministic responder for AI_PROVIDER=offline, built on the shipped help corpus.

It behaves like a chat model to the assistant loop: for questions about the user's own
orders it answers with the same tool calls a model would make, then writes the reply from
the tool results. An order number in the question, full or as the short "#a3ee91f2" this
responder prints, is looked up directly. Other questions get the best matching help
article. The same input always gives the same reply.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from taskgo.i18n import format_datetime_local, translate
from taskgo.support.assistant import MAX_CALLS_PER_ROUND
from taskgo.support.history import estimate_message_tokens, estimate_tokens
from taskgo.support.knowledge import fold, help_index
from taskgo.support.provider import (
    ChatMessage,
    Completion,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolChoice,
    Usage,
)
from taskgo.support.references import OrderReference, find_references, parse_reference
from taskgo.support.tools import (
    GET_PURCHASE_TRACKING,
    GET_SERVICE_ORDER,
    LIST_MY_PURCHASES,
    LIST_MY_SERVICE_ORDERS,
)

# The argument that names the order, for each tool that looks up one order.
_REFERENCE_ARGUMENT = {GET_PURCHASE_TRACKING: "purchase_id", GET_SERVICE_ORDER: "service_order_id"}
_MAX_REFERENCES = 3
_ORDER_INTENT = re.compile(
    r"""\b(onde\s+(esta|anda|ta|fica)|cade|rastre\w*|meus?\s+pedidos?|minhas?\s+compras?
    |minhas?\s+encomendas?|status\s+d[oa]s?\s+(meus?\s+|minhas?\s+)?(pedidos?|compras?)
    |(ja|nao|ainda\s+nao)\s+chego\w*|quando\s+(vai\s+|ele\s+vai\s+)?cheg\w*|foi\s+enviad\w*
    |where\s+is\s+my|my\s+(order|package|purchase)s?|track\w*)\b""",
    re.VERBOSE,
)
_SERVICE_INTENT = re.compile(
    r"""\b(minhas?\s+ordens?|ordens?\s+de\s+servico|meus?\s+servicos?|pedidos?\s+de\s+servico
    |aceitou\s+(a\s+)?minha|alguem\s+aceitou|my\s+service\s+orders?)\b""",
    re.VERBOSE,
)
# Words that tell which kind of order a number belongs to. "Pedido" and "order" are used for
# both, so a number with neither kind of word is looked up among both.
_PURCHASE_WORDS = re.compile(
    r"""\b(compras?|vendas?|encomendas?|pacotes?|rastre\w*|entreg\w*|envi\w*|cheg\w*|onde|cade
    |purchases?|sales?|packages?|parcels?|track\w*|shipp\w*|deliver\w*|where)\b""",
    re.VERBOSE,
)
_SERVICE_WORDS = re.compile(r"\b(ordem|ordens|servicos?|service)\b")
# Statuses where a tracking code may exist and the buyer is waiting for the parcel.
_IN_TRANSIT = frozenset({"shipped", "in_transit", "delivered"})
_MAX_LISTED = 5
_MIN_ARTICLE_SCORE = 2.0
_TIMEZONE = "America/Sao_Paulo"


def _short(identifier: str) -> str:
    return f"#{identifier[:8]}"


def _label(prefix: str, value: str, locale: str) -> str:
    key = f"{prefix}.{value}"
    text = translate(key, locale)
    return value.replace("_", " ") if text == key else text


def _when(value: Any, locale: str) -> str:
    if not isinstance(value, str):
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return format_datetime_local(moment, timezone=_TIMEZONE, locale=locale)


class OfflineProvider:
    def __init__(self, *, locale: str) -> None:
        self._locale = locale

    @property
    def name(self) -> str:
        return "offline"

    @property
    def model(self) -> str:
        return "taskgo-help-corpus"

    async def aclose(self) -> None:
        return None

    async def complete(
        self,
        *,
        messages: Sequence[ChatMessage],
        tools: Sequence[dict[str, Any]],
        tool_choice: ToolChoice = "auto",
    ) -> Completion:
        tool_names = {tool["function"]["name"] for tool in tools}
        allow_tools = tool_choice == "auto"
        calls = self._next_tool_calls(messages, tool_names) if allow_tools else ()
        content = None if calls else self._compose(messages)
        prompt = sum(estimate_message_tokens(message) for message in messages)
        completion = estimate_tokens(content or "") + 12 * len(calls)
        return Completion(
            content=content,
            tool_calls=calls,
            usage=Usage(prompt_tokens=prompt, completion_tokens=completion),
            finish_reason="tool_calls" if calls else "stop",
        )

    async def stream(
        self,
        *,
        messages: Sequence[ChatMessage],
        tools: Sequence[dict[str, Any]],
        tool_choice: ToolChoice = "auto",
    ) -> AsyncIterator[StreamEvent]:
        completion = await self.complete(messages=messages, tools=tools, tool_choice=tool_choice)
        if completion.content:
            # Send a few words at a time, like a model does, so clients exercise the same path.
            for piece in re.findall(r"\S+\s*|\s+", completion.content):
                yield TextDelta(piece)
        yield completion

    # --- what to call ---------------------------------------------------------------------

    def _next_tool_calls(
        self, messages: Sequence[ChatMessage], tool_names: set[str]
    ) -> tuple[ToolCall, ...]:
        question, results = _current_turn(messages)
        folded = fold(question)
        called = {result.name for result in results}
        requested: list[tuple[str, dict[str, Any]]] = []

        references = find_references(question)
        if references:
            # A question naming an order is about that order, not the latest ones. Calls past
            # the assistant's limit per round would not run, so fewer numbers are looked up.
            lookups = _lookups_for(folded)
            references = references[: min(_MAX_REFERENCES, MAX_CALLS_PER_ROUND // len(lookups))]
            for name in lookups:
                if name not in called:
                    argument = _REFERENCE_ARGUMENT[name]
                    requested.extend((name, {argument: ref.label}) for ref in references)
        elif _ORDER_INTENT.search(folded):
            if LIST_MY_PURCHASES not in called:
                requested.append((LIST_MY_PURCHASES, {"limit": _MAX_LISTED}))
            elif GET_PURCHASE_TRACKING not in called:
                latest = _latest_in_transit(_payload(results, LIST_MY_PURCHASES))
                if latest is not None:
                    requested.append((GET_PURCHASE_TRACKING, {"purchase_id": latest}))
        if (
            not references
            and _SERVICE_INTENT.search(folded)
            and LIST_MY_SERVICE_ORDERS not in called
        ):
            requested.append((LIST_MY_SERVICE_ORDERS, {"limit": _MAX_LISTED}))

        # Call ids only need to be unique within the request, so count past earlier rounds.
        offset = len(results)
        return tuple(
            ToolCall(
                id=f"offline_{offset + index}",
                name=name,
                arguments=json.dumps(arguments, sort_keys=True),
            )
            for index, (name, arguments) in enumerate(requested)
            if name in tool_names
        )

    # --- what to say ----------------------------------------------------------------------

    def _compose(self, messages: Sequence[ChatMessage]) -> str:
        question, results = _current_turn(messages)
        locale = self._locale
        parts: list[str] = []

        purchases = _payload(results, LIST_MY_PURCHASES)
        orders = _payload(results, LIST_MY_SERVICE_ORDERS)

        if purchases is not None:
            parts.append(self._purchases_text(purchases))
        for reference, found in _by_reference(results):
            parts.append(self._reference_text(reference, found))
        if orders is not None:
            parts.append(self._service_orders_text(orders))

        no_purchases = purchases is not None and not purchases.get("purchases")
        if not parts or no_purchases:
            article = self._article_text(question)
            if article:
                parts.append(article)
            elif not parts:
                parts.append(translate("support.offline.no_match", locale))

        parts.append(translate("support.offline.closing", locale))
        return "\n\n".join(part for part in parts if part)

    def _article_text(self, question: str) -> str | None:
        hits = help_index().search(question, limit=2, min_score=_MIN_ARTICLE_SCORE)
        if not hits:
            return None
        best = hits[0].article
        text = f"**{best.title}**\n\n{best.summary()}"
        if len(hits) > 1 and hits[1].score >= hits[0].score * 0.6:
            see_also = translate(
                "support.offline.see_also", self._locale, title=hits[1].article.title
            )
            text = f"{text}\n\n{see_also}"
        return text

    def _purchases_text(self, payload: dict[str, Any]) -> str:
        locale = self._locale
        purchases = payload.get("purchases") or []
        if "error" in payload:
            return translate("support.offline.lookup_failed", locale)
        if not purchases:
            return translate("support.offline.no_purchases", locale)
        lines = [translate("support.offline.purchases_intro", locale)]
        lines.extend(self._purchase_line(purchase) for purchase in purchases[:_MAX_LISTED])
        return "\n".join(lines)

    def _purchase_line(self, purchase: dict[str, Any], *, full_id: bool = False) -> str:
        locale = self._locale
        key = (
            "support.offline.sale_line"
            if purchase.get("role") == "seller"
            else "support.offline.purchase_line"
        )
        identifier = str(purchase.get("purchaseId", ""))
        return translate(
            key,
            locale,
            id=identifier if full_id else _short(identifier),
            items=", ".join(purchase.get("items") or []) or "-",
            total=purchase.get("totalFormatted") or purchase.get("total") or "",
            status=_label("support.purchase_status", str(purchase.get("status")), locale),
            date=_when(purchase.get("createdAt"), locale),
        )

    def _reference_text(self, reference: OrderReference, found: list[_Result]) -> str:
        """Write the reply about one order number from the lookups made for it."""
        locale = self._locale
        answers = [result for result in found if "error" not in result.payload]
        if answers:
            return "\n\n".join(
                self._tracking_text(result.payload)
                if result.name == GET_PURCHASE_TRACKING
                else self._service_order_text(result.payload)
                for result in answers
            )
        codes = {result.name: _error_of(result.payload).get("code") for result in found}
        ambiguous = [
            (result.name, match)
            for result in found
            if codes[result.name] == "ambiguous_reference"
            for match in _error_of(result.payload).get("matches") or []
            if isinstance(match, dict)
        ]
        if ambiguous:
            lines = [translate("support.offline.ambiguous_reference", locale, id=reference.label)]
            lines.extend(
                self._purchase_line(match, full_id=True)
                if name == GET_PURCHASE_TRACKING
                else self._service_order_line(match, full_id=True)
                for name, match in ambiguous
            )
            return "\n".join(lines)
        not_found = {"purchase_not_found", "service_order_not_found"}
        if any(code not in not_found for code in codes.values()):
            return translate("support.offline.lookup_failed", locale)
        if set(codes) == {GET_PURCHASE_TRACKING}:
            key = "support.offline.purchase_not_found"
        elif set(codes) == {GET_SERVICE_ORDER}:
            key = "support.offline.service_order_not_found"
        else:
            key = "support.offline.order_not_found"
        return translate(key, locale, id=reference.label)

    def _tracking_text(self, payload: dict[str, Any]) -> str:
        locale = self._locale
        short = _short(str(payload.get("purchaseId", "")))
        status = _label("support.purchase_status", str(payload.get("status")), locale)
        lines = [translate("support.offline.tracking_status", locale, id=short, status=status)]
        code = payload.get("trackingCode")
        events = payload.get("events") or []
        if not code:
            lines.append(translate("support.offline.tracking_no_code", locale))
        elif not events:
            lines.append(translate("support.offline.tracking_no_events", locale, code=code))
        else:
            latest = events[-1]
            lines.append(
                translate(
                    "support.offline.tracking_latest",
                    locale,
                    code=code,
                    description=latest.get("description") or latest.get("status") or "",
                    location=latest.get("location") or "-",
                    date=_when(latest.get("occurredAt"), locale),
                )
            )
        if payload.get("releaseAt") and payload.get("status") in _IN_TRANSIT:
            lines.append(
                translate(
                    "support.offline.release_at", locale, date=_when(payload["releaseAt"], locale)
                )
            )
        return "\n".join(lines)

    def _service_orders_text(self, payload: dict[str, Any]) -> str:
        locale = self._locale
        if "error" in payload:
            return translate("support.offline.lookup_failed", locale)
        orders = payload.get("serviceOrders") or []
        if not orders:
            return translate("support.offline.no_service_orders", locale)
        lines = [translate("support.offline.service_orders_intro", locale)]
        lines.extend(self._service_order_line(order) for order in orders[:_MAX_LISTED])
        return "\n".join(lines)

    def _service_order_line(self, order: dict[str, Any], *, full_id: bool = False) -> str:
        identifier = str(order.get("serviceOrderId", ""))
        return translate(
            "support.offline.service_order_line",
            self._locale,
            id=identifier if full_id else _short(identifier),
            **self._service_order_fields(order),
        )

    def _service_order_text(self, order: dict[str, Any]) -> str:
        return translate(
            "support.offline.service_order_status",
            self._locale,
            id=_short(str(order.get("serviceOrderId", ""))),
            **self._service_order_fields(order),
        )

    def _service_order_fields(self, order: dict[str, Any]) -> dict[str, str]:
        locale = self._locale
        return {
            "category": order.get("categoryName") or order.get("category") or "-",
            "status": _label("support.service_order_status", str(order.get("status")), locale),
            "date": _when(order.get("createdAt"), locale),
        }


@dataclass(frozen=True, slots=True)
class _Result:
    name: str
    arguments: dict[str, Any]
    payload: dict[str, Any]


def _current_turn(messages: Sequence[ChatMessage]) -> tuple[str, list[_Result]]:
    """Return the latest user message and the tool results that followed it, in order."""
    last_user = max(
        (index for index, message in enumerate(messages) if message.role == "user"), default=-1
    )
    question = messages[last_user].content or "" if last_user >= 0 else ""
    calls: dict[str, ToolCall] = {}
    results: list[_Result] = []
    for message in messages[last_user + 1 :]:
        for call in message.tool_calls:
            calls[call.id] = call
        call_made = calls.get(message.tool_call_id or "")
        if message.role == "tool" and call_made is not None:
            results.append(
                _Result(call_made.name, _json_object(call_made.arguments), _tool_payload(message))
            )
    return question, results


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _tool_payload(message: ChatMessage) -> dict[str, Any]:
    payload = _json_object(message.content)
    return payload or {"error": {"code": "invalid_result"}}


def _error_of(payload: dict[str, Any]) -> dict[str, Any]:
    error = payload.get("error")
    return error if isinstance(error, dict) else {"code": "invalid_result"}


def _payload(results: list[_Result], name: str) -> dict[str, Any] | None:
    return next((result.payload for result in results if result.name == name), None)


def _lookups_for(folded: str) -> list[str]:
    """Return the tools that look up an order number, given the words around it."""
    purchase = _PURCHASE_WORDS.search(folded) is not None
    service = _SERVICE_WORDS.search(folded) is not None
    if service and not purchase:
        return [GET_SERVICE_ORDER]
    if purchase and not service:
        return [GET_PURCHASE_TRACKING]
    return [GET_PURCHASE_TRACKING, GET_SERVICE_ORDER]


def _by_reference(results: list[_Result]) -> list[tuple[OrderReference, list[_Result]]]:
    """Group the single-order lookups by the order number they were asked for, in order."""
    groups: dict[OrderReference, list[_Result]] = {}
    for result in results:
        argument = _REFERENCE_ARGUMENT.get(result.name)
        value = result.arguments.get(argument) if argument else None
        if not isinstance(value, str):
            continue
        try:
            reference = parse_reference(value)
        except ValueError:
            continue
        groups.setdefault(reference, []).append(result)
    return list(groups.items())


def _latest_in_transit(payload: dict[str, Any] | None) -> str | None:
    if payload is None:
        return None
    for purchase in payload.get("purchases") or []:
        if purchase.get("status") in _IN_TRANSIT and purchase.get("trackingCode"):
            return str(purchase.get("purchaseId"))
    return None

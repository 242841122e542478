"""A deterministic responder for AI_PROVIDER=offline, built on the shipped help corpus.

It behaves like a chat model to the assistant loop: for questions about the user's own
orders it answers with the same tool calls a model would make, then writes the reply from
the tool results. Other questions get the best matching help article. The same input
always gives the same reply.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from taskgo.i18n import format_datetime_local, translate
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
from taskgo.support.tools import (
    GET_PURCHASE_TRACKING,
    LIST_MY_PURCHASES,
    LIST_MY_SERVICE_ORDERS,
)

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
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
        called = {name for name, _ in results}
        requested: list[tuple[str, dict[str, Any]]] = []

        ids = [match.lower() for match in _UUID.findall(question)][:3]
        if _ORDER_INTENT.search(folded) or ids:
            if ids and GET_PURCHASE_TRACKING not in called:
                requested.extend((GET_PURCHASE_TRACKING, {"purchase_id": value}) for value in ids)
            elif not ids and LIST_MY_PURCHASES not in called:
                requested.append((LIST_MY_PURCHASES, {"limit": _MAX_LISTED}))
            elif LIST_MY_PURCHASES in called and GET_PURCHASE_TRACKING not in called:
                latest = _latest_in_transit(_payload(results, LIST_MY_PURCHASES))
                if latest is not None:
                    requested.append((GET_PURCHASE_TRACKING, {"purchase_id": latest}))
        if _SERVICE_INTENT.search(folded) and LIST_MY_SERVICE_ORDERS not in called:
            requested.append((LIST_MY_SERVICE_ORDERS, {"limit": _MAX_LISTED}))

        # Call ids only need to be unique within the request; count past earlier rounds.
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

        tracked = [payload for name, payload in results if name == GET_PURCHASE_TRACKING]
        purchases = _payload(results, LIST_MY_PURCHASES)
        orders = _payload(results, LIST_MY_SERVICE_ORDERS)

        if purchases is not None:
            parts.append(self._purchases_text(purchases))
        for payload in tracked:
            parts.append(self._tracking_text(payload))
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
        for purchase in purchases[:_MAX_LISTED]:
            key = (
                "support.offline.sale_line"
                if purchase.get("role") == "seller"
                else ("support.offline.purchase_line")
            )
            lines.append(
                translate(
                    key,
                    locale,
                    id=_short(str(purchase.get("purchaseId", ""))),
                    items=", ".join(purchase.get("items") or []) or "-",
                    total=purchase.get("totalFormatted") or purchase.get("total") or "",
                    status=_label("support.purchase_status", str(purchase.get("status")), locale),
                    date=_when(purchase.get("createdAt"), locale),
                )
            )
        return "\n".join(lines)

    def _tracking_text(self, payload: dict[str, Any]) -> str:
        locale = self._locale
        if "error" in payload:
            return translate("support.offline.purchase_not_found", locale)
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
        for order in orders[:_MAX_LISTED]:
            lines.append(
                translate(
                    "support.offline.service_order_line",
                    locale,
                    id=_short(str(order.get("serviceOrderId", ""))),
                    category=order.get("categoryName") or order.get("category") or "-",
                    status=_label("support.service_order_status", str(order.get("status")), locale),
                    date=_when(order.get("createdAt"), locale),
                )
            )
        return "\n".join(lines)


def _current_turn(
    messages: Sequence[ChatMessage],
) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """Return the latest user message and the tool results that followed it, in order."""
    last_user = max(
        (index for index, message in enumerate(messages) if message.role == "user"), default=-1
    )
    question = messages[last_user].content or "" if last_user >= 0 else ""
    names: dict[str, str] = {}
    results: list[tuple[str, dict[str, Any]]] = []
    for message in messages[last_user + 1 :]:
        for call in message.tool_calls:
            names[call.id] = call.name
        if message.role == "tool" and message.tool_call_id in names:
            try:
                payload = json.loads(message.content or "{}")
            except json.JSONDecodeError:
                payload = {"error": {"code": "invalid_result"}}
            results.append((names[message.tool_call_id], payload))
    return question, results


def _payload(results: list[tuple[str, dict[str, Any]]], name: str) -> dict[str, Any] | None:
    return next((payload for called, payload in results if called == name), None)


def _latest_in_transit(payload: dict[str, Any] | None) -> str | None:
    if payload is None:
        return None
    for purchase in payload.get("purchases") or []:
        if purchase.get("status") in _IN_TRANSIT and purchase.get("trackingCode"):
            return str(purchase.get("purchaseId"))
    return None

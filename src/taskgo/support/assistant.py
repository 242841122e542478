"""One assistant turn: fit the context, call the model, run its tool calls, get the reply.

Provider failures never escape: they end the turn with a pt-BR (or English) fallback that
offers a human, and the outcome carries the error kind so the service can flag the
conversation for the admin.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import structlog

from taskgo.i18n import translate
from taskgo.support.history import (
    estimate_message_tokens,
    estimate_tokens,
    estimate_tools_tokens,
    trim_history,
)
from taskgo.support.provider import (
    ChatMessage,
    ChatProvider,
    Completion,
    ProviderError,
    ProviderErrorKind,
    TextDelta,
    ToolCall,
    ToolChoice,
    Usage,
)
from taskgo.support.redaction import redact_text
from taskgo.support.tools import ToolResult

log = structlog.get_logger(__name__)

DeltaSink = Callable[[str], Awaitable[None]]

# More calls than this in one model answer are not run: no question needs them, and a
# prompt-injected model could otherwise fan out many lookups at once.
MAX_CALLS_PER_ROUND = 5


class ToolRunner(Protocol):
    @property
    def definitions(self) -> Sequence[dict[str, Any]]: ...

    async def run(self, call: ToolCall) -> ToolResult: ...


@dataclass(slots=True)
class TurnOutcome:
    content: str
    usage: Usage
    provider: str
    model: str
    tools_called: list[str] = field(default_factory=list)
    error: ProviderErrorKind | None = None
    # Text already streamed before a failure; the client replaces it with `content`.
    streamed_partial: bool = False


@dataclass(slots=True)
class _TurnState:
    usage: Usage = field(default_factory=Usage)
    tools_called: list[str] = field(default_factory=list)
    streamed: bool = False


def fallback_reply(locale: str | None) -> str:
    return translate("support.fallback.unavailable", locale)


def _outbound(message: ChatMessage) -> ChatMessage:
    # History is stored redacted already; redacting again here also covers rows written
    # before a detector was added. Tool results are redacted where they are built.
    if message.role == "tool" or not message.content:
        return message
    return ChatMessage(
        role=message.role,
        content=redact_text(message.content),
        tool_calls=message.tool_calls,
        tool_call_id=message.tool_call_id,
    )


async def _call_model(
    provider: ChatProvider,
    *,
    messages: list[ChatMessage],
    tools: Sequence[dict[str, Any]],
    tool_choice: ToolChoice,
    on_delta: DeltaSink | None,
    state: _TurnState,
) -> Completion:
    outbound = [_outbound(message) for message in messages]
    if on_delta is None:
        completion = await provider.complete(
            messages=outbound, tools=tools, tool_choice=tool_choice
        )
        return _with_usage(completion, messages=outbound, tools=tools)

    final: Completion | None = None
    async for event in provider.stream(messages=outbound, tools=tools, tool_choice=tool_choice):
        if isinstance(event, TextDelta):
            state.streamed = True
            await on_delta(event.text)
        else:
            final = event
    if final is None:
        raise ProviderError(ProviderErrorKind.BAD_RESPONSE, "stream ended without a completion")
    return _with_usage(final, messages=outbound, tools=tools)


def _with_usage(
    completion: Completion, *, messages: Sequence[ChatMessage], tools: Sequence[dict[str, Any]]
) -> Completion:
    """Estimate the tokens of a completion whose server reported none.

    A server may report no usage, or zeros, and the daily token budget would then never
    run out.
    """
    if completion.usage.total_tokens > 0:
        return completion
    prompt = sum(estimate_message_tokens(message) for message in messages)
    reply = estimate_tokens(completion.content or "") + sum(
        estimate_tokens(call.arguments) for call in completion.tool_calls
    )
    usage = Usage(prompt_tokens=prompt + estimate_tools_tokens(tools), completion_tokens=reply)
    return replace(completion, usage=usage)


async def _run_rounds(
    *,
    provider: ChatProvider,
    tools: ToolRunner,
    messages: list[ChatMessage],
    max_rounds: int,
    on_delta: DeltaSink | None,
    state: _TurnState,
) -> str:
    for round_number in range(max_rounds):
        # The last round forbids tools so the model has to answer with text.
        tool_choice: ToolChoice = "auto" if round_number < max_rounds - 1 else "none"
        completion = await _call_model(
            provider,
            messages=messages,
            tools=tools.definitions,
            tool_choice=tool_choice,
            on_delta=on_delta,
            state=state,
        )
        state.usage = state.usage + completion.usage

        if not completion.tool_calls:
            if not completion.content or not completion.content.strip():
                raise ProviderError(
                    ProviderErrorKind.BAD_RESPONSE,
                    f"empty reply, finish_reason={completion.finish_reason}",
                )
            return completion.content.strip()

        messages.append(
            ChatMessage(
                role="assistant", content=completion.content, tool_calls=completion.tool_calls
            )
        )
        for index, call in enumerate(completion.tool_calls):
            if index >= MAX_CALLS_PER_ROUND:
                content = '{"error": {"code": "too_many_calls", "message": "Call fewer tools."}}'
            else:
                result = await tools.run(call)
                state.tools_called.append(call.name)
                content = result.content
            messages.append(ChatMessage(role="tool", content=content, tool_call_id=call.id))

    raise ProviderError(ProviderErrorKind.BAD_RESPONSE, "no reply after the last tool round")


async def run_turn(
    *,
    provider: ChatProvider,
    tools: ToolRunner,
    system: ChatMessage,
    history: Sequence[ChatMessage],
    latest: ChatMessage,
    budget: int,
    max_rounds: int,
    locale: str | None,
    on_delta: DeltaSink | None = None,
    log_context: dict[str, Any] | None = None,
) -> TurnOutcome:
    """Produce the assistant's reply to `latest`; never raises `ProviderError`."""
    state = _TurnState()
    reserved = estimate_tools_tokens(tools.definitions)
    current_budget = budget
    context = log_context or {}

    # One retry with half the budget when the server counts more tokens than we estimated.
    for attempt in (1, 2):
        messages = trim_history(
            system=system, history=history, latest=latest, budget=current_budget, reserved=reserved
        )
        try:
            content = await _run_rounds(
                provider=provider,
                tools=tools,
                messages=messages,
                max_rounds=max_rounds,
                on_delta=on_delta,
                state=state,
            )
            return TurnOutcome(
                content=content,
                usage=state.usage,
                provider=provider.name,
                model=provider.model,
                tools_called=state.tools_called,
            )
        except ProviderError as error:
            retry = (
                error.kind is ProviderErrorKind.CONTEXT_TOO_LONG
                and attempt == 1
                and not state.streamed
                and len(messages) > 2
            )
            if retry:
                current_budget = max(budget // 2, 1)
                log.info("support.turn.context_retry", budget=current_budget, **context)
                continue
            log.warning(
                "support.turn.failed",
                kind=error.kind.value,
                attempts=error.attempts,
                provider=provider.name,
                **context,
            )
            return TurnOutcome(
                content=fallback_reply(locale),
                usage=state.usage,
                provider=provider.name,
                model=provider.model,
                tools_called=state.tools_called,
                error=error.kind,
                streamed_partial=state.streamed,
            )

    raise AssertionError("unreachable: the loop returns on every path")

"""The chat-model capability the assistant depends on, and the values it exchanges.

Two implementations exist: `client.OpenAIProvider` speaks the OpenAI chat completions
protocol to any compatible server, and `offline.OfflineProvider` answers from the shipped
help corpus. Both request the same tools, so order lookups behave the same either way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]
ToolChoice = Literal["auto", "none"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call requested by the model; `arguments` is the raw JSON text it sent."""

    id: str
    name: str
    arguments: str

    def to_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str | None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    def to_openai(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [call.to_openai() for call in self.tool_calls]
        if self.tool_call_id is not None:
            message["tool_call_id"] = self.tool_call_id
        return message


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


@dataclass(frozen=True, slots=True)
class Completion:
    content: str | None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the assistant's reply, sent to the client as soon as it arrives."""

    text: str


StreamEvent = TextDelta | Completion


class ProviderErrorKind(StrEnum):
    RATE_LIMITED = "rate_limited"
    QUOTA_EXHAUSTED = "quota_exhausted"
    AUTHENTICATION = "authentication"
    CONTEXT_TOO_LONG = "context_too_long"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    BAD_REQUEST = "bad_request"
    BAD_RESPONSE = "bad_response"


class ProviderError(Exception):
    """A model call that failed after the provider's own retries."""

    def __init__(
        self,
        kind: ProviderErrorKind,
        detail: str,
        *,
        status: int | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.status = status
        self.attempts = attempts


class ChatProvider(Protocol):
    """A chat model that may answer with text or with tool calls."""

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str: ...

    async def complete(
        self,
        *,
        messages: Sequence[ChatMessage],
        tools: Sequence[dict[str, Any]],
        tool_choice: ToolChoice = "auto",
    ) -> Completion: ...

    def stream(
        self,
        *,
        messages: Sequence[ChatMessage],
        tools: Sequence[dict[str, Any]],
        tool_choice: ToolChoice = "auto",
    ) -> AsyncIterator[StreamEvent]:
        """Yield text deltas as they arrive, then exactly one final `Completion`."""
        ...

    async def aclose(self) -> None: ...

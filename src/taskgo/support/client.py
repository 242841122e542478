"""Chat completions through the official `openai` SDK, against any compatible server.

The SDK's own retries are off (`max_retries=0`) because it would also retry a 429 whose
code is `insufficient_quota`, which never clears by waiting. This wrapper retries rate
limits, timeouts, connection errors and 5xx responses with exponential backoff and full
jitter, honours `Retry-After`, and turns every other failure into a `ProviderError`.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import openai
import structlog

from taskgo.config import Settings
from taskgo.support.provider import (
    ChatMessage,
    Completion,
    ProviderError,
    ProviderErrorKind,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolChoice,
    Usage,
)

log = structlog.get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]

_RETRYABLE = frozenset(
    {ProviderErrorKind.RATE_LIMITED, ProviderErrorKind.TIMEOUT, ProviderErrorKind.UNAVAILABLE}
)


def classify_error(error: openai.OpenAIError) -> ProviderError:
    """Map an SDK exception to a `ProviderError` whose kind drives retries and replies."""
    if isinstance(error, openai.APITimeoutError):
        return ProviderError(ProviderErrorKind.TIMEOUT, "request timed out")
    if isinstance(error, openai.APIConnectionError):
        return ProviderError(ProviderErrorKind.UNAVAILABLE, "connection failed")
    if isinstance(error, openai.APIError) and not isinstance(error, openai.APIStatusError):
        # An `error` event inside a stream that had started with HTTP 200.
        return ProviderError(
            ProviderErrorKind.UNAVAILABLE, f"error event in stream type={error.type or '-'}"
        )
    if not isinstance(error, openai.APIStatusError):
        return ProviderError(ProviderErrorKind.BAD_RESPONSE, type(error).__name__)

    status = error.status_code
    code = error.code or ""
    error_type = error.type or ""
    detail = f"HTTP {status} code={code or '-'} type={error_type or '-'}"

    if status == 429:
        # Both arrive as HTTP 429; only the error code tells apart a temporary rate limit from
        # an account without credit.
        if "insufficient_quota" in (code, error_type):
            return ProviderError(ProviderErrorKind.QUOTA_EXHAUSTED, detail, status=status)
        return ProviderError(ProviderErrorKind.RATE_LIMITED, detail, status=status)
    if status in (401, 403):
        return ProviderError(ProviderErrorKind.AUTHENTICATION, detail, status=status)
    if status == 400 and (
        code == "context_length_exceeded" or "maximum context length" in error.message.lower()
    ):
        return ProviderError(ProviderErrorKind.CONTEXT_TOO_LONG, detail, status=status)
    if status >= 500 or status == 408:
        return ProviderError(ProviderErrorKind.UNAVAILABLE, detail, status=status)
    return ProviderError(ProviderErrorKind.BAD_REQUEST, detail, status=status)


def _retry_after_seconds(error: openai.OpenAIError) -> float | None:
    if not isinstance(error, openai.APIStatusError):
        return None
    headers = error.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            # Retry-After may also be an HTTP date; the computed backoff is used then.
            return None
    return None


class OpenAIProvider:
    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        model: str,
        timeout_seconds: float,
        connect_timeout_seconds: float,
        max_attempts: int,
        backoff_base_seconds: float,
        backoff_max_seconds: float,
        max_output_tokens: int,
        max_tokens_param: str = "max_completion_tokens",
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=openai.Timeout(timeout_seconds, connect=connect_timeout_seconds),
            max_retries=0,
        )
        self._model = model
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base_seconds
        self._backoff_max = backoff_max_seconds
        self._max_output_tokens = max_output_tokens
        self._max_tokens_param = max_tokens_param
        self._sleep = sleep

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIProvider:
        if settings.openai_api_key is None:
            raise ValueError("OPENAI_API_KEY is required when AI_PROVIDER=openai")
        return cls(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            model=settings.openai_model,
            timeout_seconds=settings.openai_timeout_seconds,
            connect_timeout_seconds=settings.openai_connect_timeout_seconds,
            max_attempts=settings.openai_max_attempts,
            backoff_base_seconds=settings.openai_backoff_base_seconds,
            backoff_max_seconds=settings.openai_backoff_max_seconds,
            max_output_tokens=settings.openai_max_output_tokens,
            max_tokens_param=settings.openai_max_tokens_param,
        )

    @property
    def name(self) -> str:
        return "openai"

    @property
    def model(self) -> str:
        return self._model

    async def aclose(self) -> None:
        await self._client.close()

    def _request(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[dict[str, Any]],
        tool_choice: ToolChoice,
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self._model,
            "messages": [message.to_openai() for message in messages],
            self._max_tokens_param: self._max_output_tokens,
        }
        if tools:
            request["tools"] = list(tools)
            request["tool_choice"] = tool_choice
        return request

    def _backoff(self, attempt: int, error: openai.OpenAIError) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to stop retrying."""
        retry_after = _retry_after_seconds(error)
        if retry_after is not None:
            # A server that requests a longer pause than we allow will not answer in time
            # for a waiting user, so give up instead of holding the request.
            return retry_after if retry_after <= self._backoff_max else None
        ceiling = min(self._backoff_max, self._backoff_base * (2 ** (attempt - 1)))
        return random.uniform(0, ceiling)

    async def _with_retries(self, call: Callable[[], Awaitable[Completion]]) -> Completion:
        attempt = 1
        while True:
            try:
                return await call()
            except openai.OpenAIError as error:
                failure = classify_error(error)
                failure.attempts = attempt
                delay = self._backoff(attempt, error) if failure.kind in _RETRYABLE else None
                if delay is None or attempt >= self._max_attempts:
                    log.warning(
                        "support.provider.failed",
                        kind=failure.kind.value,
                        status=failure.status,
                        attempts=attempt,
                        model=self._model,
                    )
                    raise failure from error
                log.info(
                    "support.provider.retry",
                    kind=failure.kind.value,
                    status=failure.status,
                    attempt=attempt,
                    delay_seconds=round(delay, 3),
                )
                await self._sleep(delay)
                attempt += 1

    async def complete(
        self,
        *,
        messages: Sequence[ChatMessage],
        tools: Sequence[dict[str, Any]],
        tool_choice: ToolChoice = "auto",
    ) -> Completion:
        request = self._request(messages, tools, tool_choice)

        async def call() -> Completion:
            response = await self._client.chat.completions.create(**request)
            return _completion_from_response(response)

        return await self._with_retries(call)

    async def stream(
        self,
        *,
        messages: Sequence[ChatMessage],
        tools: Sequence[dict[str, Any]],
        tool_choice: ToolChoice = "auto",
    ) -> AsyncIterator[StreamEvent]:
        request = self._request(messages, tools, tool_choice)
        request["stream"] = True
        request["stream_options"] = {"include_usage": True}
        attempt = 1

        while True:
            accumulator = _StreamAccumulator()
            sent_text = False
            try:
                response = await self._client.chat.completions.create(**request)
                async for chunk in response:
                    text = accumulator.add(chunk)
                    if text:
                        sent_text = True
                        yield TextDelta(text)
                yield accumulator.finish()
                return
            except openai.OpenAIError as error:
                failure = classify_error(error)
                failure.attempts = attempt
                retryable = failure.kind in _RETRYABLE and not sent_text
                # Text already shown to the user cannot be taken back, so a stream that
                # breaks after its first delta is not retried.
                delay = self._backoff(attempt, error) if retryable else None
                if delay is None or attempt >= self._max_attempts:
                    log.warning(
                        "support.provider.failed",
                        kind=failure.kind.value,
                        status=failure.status,
                        attempts=attempt,
                        streamed_text=sent_text,
                        model=self._model,
                    )
                    raise failure from error
                log.info(
                    "support.provider.retry",
                    kind=failure.kind.value,
                    status=failure.status,
                    attempt=attempt,
                    delay_seconds=round(delay, 3),
                )
                await self._sleep(delay)
                attempt += 1


def _usage(raw: Any) -> Usage:
    if raw is None:
        return Usage()
    return Usage(
        prompt_tokens=int(raw.prompt_tokens or 0),
        completion_tokens=int(raw.completion_tokens or 0),
    )


def _completion_from_response(response: Any) -> Completion:
    if not response.choices:
        raise ProviderError(ProviderErrorKind.BAD_RESPONSE, "response without choices")
    choice = response.choices[0]
    message = choice.message
    calls = tuple(
        ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments or "")
        for call in (message.tool_calls or [])
        if getattr(call, "function", None) is not None
    )
    return Completion(
        content=message.content,
        tool_calls=calls,
        usage=_usage(response.usage),
        finish_reason=choice.finish_reason,
    )


class _StreamAccumulator:
    """Rebuild one completion from streamed chunks: text, tool calls, usage."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._calls: dict[int, dict[str, str]] = {}
        self._usage = Usage()
        self._finish_reason: str | None = None

    def add(self, chunk: Any) -> str:
        if chunk.usage is not None:
            self._usage = _usage(chunk.usage)
        if not chunk.choices:
            return ""
        choice = chunk.choices[0]
        if choice.finish_reason:
            self._finish_reason = choice.finish_reason
        delta = choice.delta
        for call in delta.tool_calls or []:
            # The id and name come in the first chunk of a call; later chunks only append
            # argument text to the call with the same index.
            slot = self._calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
            if call.id:
                slot["id"] = call.id
            if call.function is not None:
                if call.function.name:
                    slot["name"] += call.function.name
                if call.function.arguments:
                    slot["arguments"] += call.function.arguments
        if delta.content:
            self._text.append(delta.content)
            return delta.content
        return ""

    def finish(self) -> Completion:
        calls = tuple(
            ToolCall(id=slot["id"], name=slot["name"], arguments=slot["arguments"])
            for _, slot in sorted(self._calls.items())
        )
        for call in calls:
            if not call.id or not call.name:
                raise ProviderError(ProviderErrorKind.BAD_RESPONSE, "incomplete streamed tool call")
        text = "".join(self._text)
        return Completion(
            content=text or None,
            tool_calls=calls,
            usage=self._usage,
            finish_reason=self._finish_reason,
        )


def parse_arguments(call: ToolCall) -> dict[str, Any]:
    """Decode a tool call's JSON arguments; raise ValueError unless they form an object."""
    if not call.arguments.strip():
        return {}
    value = json.loads(call.arguments)
    if not isinstance(value, dict):
        raise ValueError("tool arguments must be a JSON object")
    return value

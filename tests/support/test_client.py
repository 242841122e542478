from __future__ import annotations

import json

import pytest

from taskgo.support.client import OpenAIProvider
from taskgo.support.provider import (
    ChatMessage,
    Completion,
    ProviderError,
    ProviderErrorKind,
    TextDelta,
)
from tests.standins.openai_server import (
    DEFAULT_KEY,
    BreakStream,
    CallTools,
    Fail,
    OpenAIStandIn,
    Reply,
    Stall,
    context_length_error,
    insufficient_quota,
    rate_limited,
    server_error,
)

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "list_my_purchases",
            "description": "List purchases.",
            "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
        },
    }
]
MESSAGES = [
    ChatMessage(role="system", content="Você é o suporte."),
    ChatMessage(role="user", content="Onde está meu pedido?"),
]


class SleepRecorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_provider(
    standin: OpenAIStandIn,
    sleep: SleepRecorder,
    *,
    api_key: str = DEFAULT_KEY,
    model: str = "gpt-4o-mini",
    timeout: float = 5.0,
    attempts: int = 3,
    backoff_max: float = 8.0,
) -> OpenAIProvider:
    return OpenAIProvider(
        api_key=api_key,
        base_url=standin.base_url,
        model=model,
        timeout_seconds=timeout,
        connect_timeout_seconds=2.0,
        max_attempts=attempts,
        backoff_base_seconds=0.5,
        backoff_max_seconds=backoff_max,
        max_output_tokens=300,
        sleep=sleep,
    )


async def collect(provider: OpenAIProvider) -> tuple[list[str], Completion]:
    deltas: list[str] = []
    final: Completion | None = None
    async for event in provider.stream(messages=MESSAGES, tools=TOOLS):
        if isinstance(event, TextDelta):
            deltas.append(event.text)
        else:
            final = event
    assert final is not None
    return deltas, final


async def test_complete_text_reply(openai_standin: OpenAIStandIn) -> None:
    openai_standin.script(Reply("Seu pedido foi enviado.", usage=(120, 9)))
    provider = make_provider(openai_standin, SleepRecorder())

    completion = await provider.complete(messages=MESSAGES, tools=TOOLS)

    assert completion.content == "Seu pedido foi enviado."
    assert completion.tool_calls == ()
    assert completion.usage.prompt_tokens == 120
    assert completion.usage.completion_tokens == 9
    body = openai_standin.requests[0]
    assert body["model"] == "gpt-4o-mini"
    assert body["max_completion_tokens"] == 300
    assert body["tool_choice"] == "auto"
    assert body["messages"][1] == {"role": "user", "content": "Onde está meu pedido?"}
    assert openai_standin.headers[0]["Authorization"] == f"Bearer {DEFAULT_KEY}"
    await provider.aclose()


async def test_complete_tool_call(openai_standin: OpenAIStandIn) -> None:
    openai_standin.script(CallTools([("list_my_purchases", {"limit": 3})]))
    provider = make_provider(openai_standin, SleepRecorder())

    completion = await provider.complete(messages=MESSAGES, tools=TOOLS)

    assert completion.content is None
    assert len(completion.tool_calls) == 1
    assert completion.tool_calls[0].name == "list_my_purchases"
    assert json.loads(completion.tool_calls[0].arguments) == {"limit": 3}
    assert completion.finish_reason == "tool_calls"


async def test_stream_text_in_deltas(openai_standin: OpenAIStandIn) -> None:
    text = "Seu pedido saiu para entrega hoje de manhã."
    openai_standin.script(Reply(text, chunk_size=5, usage=(80, 11)))
    provider = make_provider(openai_standin, SleepRecorder())

    deltas, final = await collect(provider)

    assert len(deltas) == -(-len(text) // 5)
    assert "".join(deltas) == text
    assert final.content == text
    assert final.usage.prompt_tokens == 80
    assert final.usage.completion_tokens == 11
    assert openai_standin.requests[0]["stream"] is True
    assert openai_standin.requests[0]["stream_options"] == {"include_usage": True}


async def test_stream_tool_call_arguments_joined(openai_standin: OpenAIStandIn) -> None:
    arguments = {"status": "shipped", "limit": 10}
    openai_standin.script(CallTools([("list_my_purchases", arguments)]))
    provider = make_provider(openai_standin, SleepRecorder())

    deltas, final = await collect(provider)

    assert deltas == []
    assert len(final.tool_calls) == 1
    assert final.tool_calls[0].id.startswith("call_")
    assert json.loads(final.tool_calls[0].arguments) == arguments


async def test_rate_limit_retried_then_ok(openai_standin: OpenAIStandIn) -> None:
    openai_standin.script(rate_limited(), rate_limited(), Reply("ok"))
    sleep = SleepRecorder()
    provider = make_provider(openai_standin, sleep)

    completion = await provider.complete(messages=MESSAGES, tools=TOOLS)

    assert completion.content == "ok"
    assert len(openai_standin.requests) == 3
    assert len(sleep.delays) == 2
    assert 0 <= sleep.delays[0] <= 0.5
    assert 0 <= sleep.delays[1] <= 1.0


async def test_rate_limit_honours_retry_after(openai_standin: OpenAIStandIn) -> None:
    openai_standin.script(rate_limited(retry_after_ms=1500), Reply("ok"))
    sleep = SleepRecorder()
    provider = make_provider(openai_standin, sleep)

    await provider.complete(messages=MESSAGES, tools=TOOLS)

    assert sleep.delays == [1.5]


async def test_rate_limit_long_retry_after_gives_up(openai_standin: OpenAIStandIn) -> None:
    openai_standin.script(rate_limited(retry_after_ms=60_000), Reply("never sent"))
    sleep = SleepRecorder()
    provider = make_provider(openai_standin, sleep)

    with pytest.raises(ProviderError) as failure:
        await provider.complete(messages=MESSAGES, tools=TOOLS)

    assert failure.value.kind is ProviderErrorKind.RATE_LIMITED
    assert len(openai_standin.requests) == 1
    assert sleep.delays == []


async def test_rate_limit_exhausts_attempts(openai_standin: OpenAIStandIn) -> None:
    openai_standin.script(rate_limited(), rate_limited(), rate_limited(), Reply("late"))
    sleep = SleepRecorder()
    provider = make_provider(openai_standin, sleep, attempts=3)

    with pytest.raises(ProviderError) as failure:
        await provider.complete(messages=MESSAGES, tools=TOOLS)

    assert failure.value.kind is ProviderErrorKind.RATE_LIMITED
    assert failure.value.attempts == 3
    assert len(openai_standin.requests) == 3
    assert openai_standin.pending == 1


async def test_insufficient_quota_not_retried(openai_standin: OpenAIStandIn) -> None:
    openai_standin.script(insufficient_quota(), Reply("never sent"))
    sleep = SleepRecorder()
    provider = make_provider(openai_standin, sleep)

    with pytest.raises(ProviderError) as failure:
        await provider.complete(messages=MESSAGES, tools=TOOLS)

    assert failure.value.kind is ProviderErrorKind.QUOTA_EXHAUSTED
    assert failure.value.status == 429
    assert len(openai_standin.requests) == 1
    assert sleep.delays == []


async def test_insufficient_quota_stream_not_retried(openai_standin: OpenAIStandIn) -> None:
    openai_standin.script(insufficient_quota(), Reply("never sent"))
    provider = make_provider(openai_standin, SleepRecorder())

    with pytest.raises(ProviderError) as failure:
        await collect(provider)

    assert failure.value.kind is ProviderErrorKind.QUOTA_EXHAUSTED
    assert len(openai_standin.requests) == 1


async def test_server_error_retried(openai_standin: OpenAIStandIn) -> None:
    openai_standin.script(server_error(), Reply("recovered"))
    sleep = SleepRecorder()
    provider = make_provider(openai_standin, sleep)

    completion = await provider.complete(messages=MESSAGES, tools=TOOLS)

    assert completion.content == "recovered"
    assert len(sleep.delays) == 1


async def test_wrong_key_is_authentication_error(openai_standin: OpenAIStandIn) -> None:
    openai_standin.script(Reply("never sent"))
    provider = make_provider(openai_standin, SleepRecorder(), api_key="sk-wrong")

    with pytest.raises(ProviderError) as failure:
        await provider.complete(messages=MESSAGES, tools=TOOLS)

    assert failure.value.kind is ProviderErrorKind.AUTHENTICATION
    assert failure.value.status == 401
    assert openai_standin.pending == 1


async def test_unknown_model_is_bad_request(openai_standin: OpenAIStandIn) -> None:
    provider = make_provider(openai_standin, SleepRecorder(), model="gpt-nonexistent")

    with pytest.raises(ProviderError) as failure:
        await provider.complete(messages=MESSAGES, tools=TOOLS)

    assert failure.value.kind is ProviderErrorKind.BAD_REQUEST
    assert failure.value.status == 404


async def test_context_length_error(openai_standin: OpenAIStandIn) -> None:
    openai_standin.script(context_length_error(8192, 9100))
    sleep = SleepRecorder()
    provider = make_provider(openai_standin, sleep)

    with pytest.raises(ProviderError) as failure:
        await provider.complete(messages=MESSAGES, tools=TOOLS)

    assert failure.value.kind is ProviderErrorKind.CONTEXT_TOO_LONG
    assert sleep.delays == []


async def test_context_window_enforced_by_standin(openai_standin: OpenAIStandIn) -> None:
    openai_standin.context_window = 50
    provider = make_provider(openai_standin, SleepRecorder())
    long_messages = [*MESSAGES, ChatMessage(role="user", content="palavra " * 200)]

    with pytest.raises(ProviderError) as failure:
        await provider.complete(messages=long_messages, tools=TOOLS)

    assert failure.value.kind is ProviderErrorKind.CONTEXT_TOO_LONG


@pytest.mark.timeout(30)
async def test_timeout_retried_then_fails(openai_standin: OpenAIStandIn) -> None:
    openai_standin.script(Stall(1.5, then=Reply("late")), Stall(1.5, then=Reply("late")))
    sleep = SleepRecorder()
    provider = make_provider(openai_standin, sleep, timeout=0.3, attempts=2)

    with pytest.raises(ProviderError) as failure:
        await provider.complete(messages=MESSAGES, tools=TOOLS)

    assert failure.value.kind is ProviderErrorKind.TIMEOUT
    assert failure.value.attempts == 2
    assert len(sleep.delays) == 1


async def test_stream_broken_after_text_not_retried(openai_standin: OpenAIStandIn) -> None:
    openai_standin.script(BreakStream("Seu pedido está"), Reply("never sent"))
    provider = make_provider(openai_standin, SleepRecorder())
    deltas: list[str] = []

    with pytest.raises(ProviderError):
        async for event in provider.stream(messages=MESSAGES, tools=TOOLS):
            if isinstance(event, TextDelta):
                deltas.append(event.text)

    assert "".join(deltas) == "Seu pedido está"
    assert len(openai_standin.requests) == 1


async def test_stream_rate_limit_before_text_retried(openai_standin: OpenAIStandIn) -> None:
    openai_standin.script(rate_limited(), Reply("tudo certo"))
    sleep = SleepRecorder()
    provider = make_provider(openai_standin, sleep)

    deltas, final = await collect(provider)

    assert "".join(deltas) == "tudo certo"
    assert final.content == "tudo certo"
    assert len(sleep.delays) == 1


async def test_standin_rejects_orphan_tool_message(openai_standin: OpenAIStandIn) -> None:
    provider = make_provider(openai_standin, SleepRecorder())
    bad = [*MESSAGES, ChatMessage(role="tool", content="{}", tool_call_id="call_x")]

    with pytest.raises(ProviderError) as failure:
        await provider.complete(messages=bad, tools=TOOLS)

    assert failure.value.kind is ProviderErrorKind.BAD_REQUEST
    assert failure.value.status == 400


async def test_custom_fail_body(openai_standin: OpenAIStandIn) -> None:
    openai_standin.script(
        Fail(403, "unsupported_country_region_territory", "request_forbidden", "no")
    )
    provider = make_provider(openai_standin, SleepRecorder())

    with pytest.raises(ProviderError) as failure:
        await provider.complete(messages=MESSAGES, tools=TOOLS)

    assert failure.value.kind is ProviderErrorKind.AUTHENTICATION

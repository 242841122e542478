"""A local OpenAI-compatible chat completions server for tests.

It checks requests the way the real API does (bearer key, model, message roles, tool call
pairing, tool schemas, context window, stream options) and answers with the next scripted
step: a text reply, tool calls, an error body, or a stall that makes the client time out.
Replies stream as server-sent events in `chat.completion.chunk` objects when the request
asks for `stream: true`. Every request body is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.standins.openai_rules import (
    Fail,
    context_length_error,
    estimate_request_tokens,
    insufficient_quota,
    invalid,
    rate_limited,
    server_error,
    validate_messages,
    validate_tools,
)

__all__ = [
    "DEFAULT_KEY",
    "DEFAULT_MODEL",
    "BreakStream",
    "CallTools",
    "Fail",
    "OpenAIStandIn",
    "Reply",
    "Stall",
    "context_length_error",
    "insufficient_quota",
    "rate_limited",
    "server_error",
]

DEFAULT_KEY = "sk-test-standin-0123456789"
DEFAULT_MODEL = "gpt-4o-mini"


@dataclass
class Reply:
    content: str
    # Streamed replies are cut into pieces of this many characters.
    chunk_size: int = 8
    finish_reason: str = "stop"
    usage: tuple[int, int] | None = None


@dataclass
class CallTools:
    calls: list[tuple[str, dict[str, Any] | str]]
    content: str | None = None


@dataclass
class Stall:
    """Wait this long before answering, so a client with a shorter timeout gives up."""

    seconds: float
    then: Reply | CallTools | None = None


@dataclass
class BreakStream:
    """Stream part of a reply, then send an error event and close the stream."""

    content: str
    chunk_size: int = 8


Step = Reply | CallTools | Fail | Stall | BreakStream
Dynamic = Callable[[dict[str, Any]], Step]


class OpenAIStandIn:
    def __init__(
        self,
        *,
        api_key: str = DEFAULT_KEY,
        models: tuple[str, ...] = (DEFAULT_MODEL,),
        context_window: int = 16_000,
    ) -> None:
        self.api_key = api_key
        self.models = models
        self.context_window = context_window
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._script: deque[Step | Dynamic] = deque()
        self._tool_names: set[str] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *steps: Step | Dynamic) -> None:
        self._script.extend(steps)

    @property
    def pending(self) -> int:
        return len(self._script)

    def reset(self) -> None:
        self._script.clear()
        self.requests.clear()
        self.headers.clear()

    async def start(self) -> None:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None)
        assert sockets
        self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- request handling ---------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return _error_response(
                Fail(
                    401,
                    None,
                    "invalid_request_error",
                    "You didn't provide an API key. You need to provide your API key in an "
                    "Authorization header using Bearer auth.",
                )
            )
        if auth.removeprefix("Bearer ") != self.api_key:
            return _error_response(
                Fail(401, "invalid_api_key", "invalid_request_error", "Incorrect API key provided.")
            )

        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error_response(invalid("We could not parse the JSON body of your request."))
        if not isinstance(body, dict):
            return _error_response(invalid("The request body must be a JSON object."))

        self.requests.append(body)
        self.headers.append(dict(request.headers))

        problem = self._validate(body)
        if problem is not None:
            return _error_response(problem)

        used = estimate_request_tokens(body)
        if used > self.context_window:
            return _error_response(context_length_error(self.context_window, used))

        if not self._script:
            return _error_response(
                Fail(500, None, "server_error", "stand-in: no scripted response left")
            )
        step = self._script.popleft()
        if callable(step):
            step = step(body)
        return await self._respond(request, body, step)

    def _validate(self, body: dict[str, Any]) -> Fail | None:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return invalid("you must provide a model parameter")
        if model not in self.models:
            return Fail(
                404,
                "model_not_found",
                "invalid_request_error",
                f"The model `{model}` does not exist or you do not have access to it.",
            )
        if "max_tokens" in body and "max_completion_tokens" in body:
            return invalid("Use either max_tokens or max_completion_tokens, not both.")
        if "stream_options" in body and not body.get("stream"):
            return invalid(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
            )
        tool_names, problem = validate_tools(body)
        if problem is not None:
            return problem
        if "tool_choice" in body and "tools" not in body:
            return invalid(
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' "
                "are specified.",
                param="tool_choice",
            )
        self._tool_names = tool_names
        return validate_messages(body.get("messages"))

    async def _respond(
        self, request: web.Request, body: dict[str, Any], step: Step
    ) -> web.StreamResponse:
        if isinstance(step, Stall):
            await asyncio.sleep(step.seconds)
            if step.then is None:
                return _error_response(server_error())
            step = step.then
        if isinstance(step, Fail):
            return _error_response(step)
        if isinstance(step, CallTools):
            for name, _ in step.calls:
                if name not in self._tool_names:
                    return _error_response(
                        Fail(500, None, "server_error", f"stand-in: script calls unknown {name}")
                    )
            if body.get("tool_choice") == "none":
                return _error_response(
                    Fail(500, None, "server_error", "stand-in: tool call with tool_choice none")
                )

        prompt_tokens = estimate_request_tokens(body)
        if body.get("stream"):
            return await self._stream(request, body, step, prompt_tokens)
        return web.json_response(_completion_body(body, step, prompt_tokens))

    async def _stream(
        self, request: web.Request, body: dict[str, Any], step: Step, prompt_tokens: int
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())

        async def send(payload: dict[str, Any]) -> None:
            chunk = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": body["model"],
                "system_fingerprint": "fp_standin",
                **payload,
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"choices": [{"index": 0, "delta": delta, "logprobs": None,
                                 "finish_reason": finish}]}  # fmt: skip

        await send(choice({"role": "assistant", "content": ""}))
        completion_tokens = 0

        if isinstance(step, BreakStream):
            for piece in _pieces(step.content, step.chunk_size):
                await send(choice({"content": piece}))
            error = {
                "error": {
                    "message": "The server had an error while processing your request.",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            }
            await response.write(f"data: {json.dumps(error)}\n\n".encode())
            await response.write_eof()
            return response

        if isinstance(step, Reply):
            for piece in _pieces(step.content, step.chunk_size):
                await send(choice({"content": piece}))
            completion_tokens = len(step.content) // 4 + 1
            await send(choice({}, step.finish_reason))
            if step.usage is not None:
                prompt_tokens, completion_tokens = step.usage
        elif isinstance(step, CallTools):
            for index, (name, arguments) in enumerate(step.calls):
                text = arguments if isinstance(arguments, str) else json.dumps(arguments)
                call_id = f"call_{uuid.uuid4().hex[:20]}"
                head = {"index": index, "id": call_id, "type": "function",
                        "function": {"name": name, "arguments": ""}}  # fmt: skip
                await send(choice({"tool_calls": [head]}))
                for piece in _pieces(text, 7):
                    part = {"index": index, "function": {"arguments": piece}}
                    await send(choice({"tool_calls": [part]}))
            completion_tokens = 12 * len(step.calls)
            await send(choice({}, "tool_calls"))

        stream_options = body.get("stream_options") or {}
        if stream_options.get("include_usage"):
            usage = _usage_body(prompt_tokens, completion_tokens)
            await send({"choices": [], "usage": usage})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _pieces(text: str, size: int) -> list[str]:
    return [text[index : index + size] for index in range(0, len(text), size)] or [""]


def _usage_body(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _completion_body(body: dict[str, Any], step: Step, prompt_tokens: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
    if isinstance(step, Reply):
        message["content"] = step.content
        finish = step.finish_reason
        completion_tokens = len(step.content) // 4 + 1
        if step.usage is not None:
            prompt_tokens, completion_tokens = step.usage
    elif isinstance(step, CallTools):
        message["content"] = step.content
        message["tool_calls"] = [
            {
                "id": f"call_{uuid.uuid4().hex[:20]}",
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                },
            }
            for name, arguments in step.calls
        ]
        finish = "tool_calls"
        completion_tokens = 12 * len(step.calls)
    else:
        raise AssertionError(f"stand-in: {type(step).__name__} cannot be sent as a completion")
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "system_fingerprint": "fp_standin",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": _usage_body(prompt_tokens, completion_tokens),
    }


def _error_response(fail: Fail) -> web.Response:
    payload = {
        "error": {
            "message": fail.message,
            "type": fail.type,
            "param": fail.param,
            "code": fail.code,
        }
    }
    return web.json_response(payload, status=fail.status, headers=fail.headers)

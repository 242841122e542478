"""Request rules and error bodies of the OpenAI chat completions API, for the stand-in.

The error bodies copy the shape the real API returns: `{"error": {message, type, param,
code}}`, where `code` separates `rate_limit_exceeded` from `insufficient_quota` on HTTP 429.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ROLES = {"system", "developer", "user", "assistant", "tool"}


@dataclass
class Fail:
    status: int
    code: str | None
    type: str
    message: str
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def rate_limited(retry_after_ms: int | None = None) -> Fail:
    headers = {"retry-after-ms": str(retry_after_ms)} if retry_after_ms is not None else {}
    return Fail(
        429,
        "rate_limit_exceeded",
        "requests",
        "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3.",
        headers=headers,
    )


def insufficient_quota() -> Fail:
    return Fail(
        429,
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details.",
    )


def server_error() -> Fail:
    return Fail(500, None, "server_error", "The server had an error while processing your request.")


def context_length_error(limit: int, used: int) -> Fail:
    return Fail(
        400,
        "context_length_exceeded",
        "invalid_request_error",
        f"This model's maximum context length is {limit} tokens. However, your messages "
        f"resulted in {used} tokens. Please reduce the length of the messages.",
        param="messages",
    )


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> Fail:
    return Fail(400, code, "invalid_request_error", message, param=param)


def estimate_request_tokens(body: dict[str, Any]) -> int:
    """Rough count of prompt tokens: about four characters per token, like English BPE."""
    text = json.dumps(body.get("messages", []), ensure_ascii=False)
    text += json.dumps(body.get("tools", []), ensure_ascii=False)
    return len(text) // 4 + 3 * len(body.get("messages", []))


def validate_tools(body: dict[str, Any]) -> tuple[set[str], Fail | None]:
    tools = body.get("tools")
    if tools is None:
        return set(), None
    if not isinstance(tools, list) or not tools:
        return set(), invalid("'tools' must be a non-empty array.", param="tools")
    names: set[str] = set()
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not function:
            return names, invalid(f"Invalid tool at tools[{index}].", param=f"tools[{index}]")
        name = function.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            return names, invalid(
                f"Invalid 'tools[{index}].function.name': string does not match pattern.",
                param=f"tools[{index}].function.name",
            )
        parameters = function.get("parameters", {"type": "object"})
        if not isinstance(parameters, dict) or parameters.get("type") != "object":
            return names, invalid(
                f"Invalid schema for function '{name}': schema must be a JSON Schema of "
                "'type: \"object\"'.",
                param=f"tools[{index}].function.parameters",
            )
        names.add(name)
    return names, None


def validate_messages(messages: Any) -> Fail | None:
    if not isinstance(messages, list) or not messages:
        return invalid("[] is too short - 'messages'", param="messages")
    open_calls: set[str] = set()
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            return invalid(f"Invalid value for 'messages[{index}].role'.", param="messages")
        role = message["role"]
        content = message.get("content")
        if open_calls and role != "tool":
            return invalid(
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'.",
                param="messages",
            )
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in open_calls:
                return invalid(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceding message with 'tool_calls'.",
                    param=f"messages.[{index}].role",
                )
            open_calls.discard(call_id)
            if not isinstance(content, str):
                return invalid(f"Invalid 'messages[{index}].content'.", param="messages")
            continue
        if role == "assistant" and message.get("tool_calls"):
            for call in message["tool_calls"]:
                open_calls.add(call.get("id"))
                arguments = call.get("function", {}).get("arguments")
                if not isinstance(arguments, str):
                    return invalid(
                        f"Invalid 'messages[{index}].tool_calls': arguments must be a string.",
                        param="messages",
                    )
            continue
        if not isinstance(content, str) or (role == "user" and not content):
            return invalid(
                f"Invalid 'messages[{index}].content': expected a non-empty string.",
                param="messages",
            )
    if open_calls:
        return invalid(
            "An assistant message with 'tool_calls' must be followed by tool messages "
            "responding to each 'tool_call_id'.",
            param="messages",
        )
    return None

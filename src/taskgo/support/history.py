"""Fit a conversation into the model's context: token estimates, cut pastes, trim history.

Token counts here are estimates. Real tokenizers are not shipped with the SDK, so the
estimate leans high for Portuguese text (about three characters per token, more for digit
runs), and a `context_length_exceeded` answer still triggers one retry with a smaller
budget in the assistant.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from babel.numbers import format_decimal

from taskgo.i18n import current_locale, normalize_locale, translate
from taskgo.support.provider import ChatMessage

# Chat formats spend a few tokens per message on role markers and separators.
MESSAGE_OVERHEAD_TOKENS = 4
_DIGIT_RUN = re.compile(r"\d+")


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    # Tokenizers split digit runs into groups of at most three digits.
    digits = sum(math.ceil(len(run) / 3) for run in _DIGIT_RUN.findall(text))
    other = len(_DIGIT_RUN.sub("", text))
    return digits + math.ceil(other / 3)


def estimate_message_tokens(message: ChatMessage) -> int:
    total = MESSAGE_OVERHEAD_TOKENS + estimate_tokens(message.content or "")
    for call in message.tool_calls:
        total += estimate_tokens(call.name) + estimate_tokens(call.arguments) + 6
    return total


def estimate_tools_tokens(tools: Sequence[dict[str, Any]]) -> int:
    return estimate_tokens(json.dumps(list(tools), ensure_ascii=False)) if tools else 0


def cut_pasted_text(text: str, *, max_chars: int, locale: str | None = None) -> tuple[str, bool]:
    """Cut `text` to about `max_chars`, keeping its start and end, with a notice in between.

    The end is kept too because people often paste a long text and write their question
    after it. Returns the text and whether it was cut.
    """
    if len(text) <= max_chars:
        return text, False

    # Size the room with a notice for the upper bound of omitted characters; the real
    # count can only be shorter, so the result stays within `max_chars`.
    notice = _notice(len(text), locale)
    room = max(0, max_chars - len(notice) - 4)
    head_size = room * 7 // 10
    tail_size = room - head_size

    head = _cut_at_space(text[:head_size], from_end=True)
    tail = _cut_at_space(text[len(text) - tail_size :], from_end=False) if tail_size else ""
    omitted = len(text) - len(head) - len(tail)
    notice = _notice(omitted, locale)
    return f"{head.rstrip()}\n\n{notice}\n\n{tail.lstrip()}".rstrip(), True


def _notice(omitted: int, locale: str | None) -> str:
    locale = normalize_locale(locale) or current_locale()
    count = format_decimal(omitted, locale=locale)
    return translate("support.paste_cut_notice", locale, omitted=count)


def _cut_at_space(piece: str, *, from_end: bool) -> str:
    # Avoid splitting a word when a space is close to the cut.
    window = min(40, len(piece) // 10)
    if from_end:
        index = piece.rfind(" ", len(piece) - window)
        return piece[:index] if index > 0 else piece
    index = piece.find(" ", 0, window)
    return piece[index + 1 :] if index >= 0 else piece


def _group_units(history: Sequence[ChatMessage]) -> list[list[ChatMessage]]:
    """Group an assistant message that called tools with the tool results that answer it.

    Dropping one without the other would make the request invalid.
    """
    units: list[list[ChatMessage]] = []
    for message in history:
        if (
            message.role == "tool"
            and units
            and (units[-1][0].tool_calls and units[-1][0].role == "assistant")
        ):
            units[-1].append(message)
        elif message.role == "tool":
            # A tool result whose call was already dropped cannot be sent alone.
            continue
        else:
            units.append([message])
    return units


def trim_history(
    *,
    system: ChatMessage,
    history: Sequence[ChatMessage],
    latest: ChatMessage,
    budget: int,
    reserved: int = 0,
) -> list[ChatMessage]:
    """Return system prompt, as much recent history as fits, and the latest message.

    `budget` is the estimated prompt size allowed; `reserved` covers what is sent beside
    the messages (tool schemas). The system prompt and `latest` are always kept. Older
    messages go first, and a message is never split.
    """
    fixed = estimate_message_tokens(system) + estimate_message_tokens(latest) + reserved
    remaining = budget - fixed
    kept: list[list[ChatMessage]] = []

    for unit in reversed(_group_units(history)):
        cost = sum(estimate_message_tokens(message) for message in unit)
        if cost > remaining:
            break
        kept.append(unit)
        remaining -= cost

    kept.reverse()
    # A history that starts with the assistant's reply to a dropped question reads as if
    # the assistant spoke first, so drop that leading reply too.
    while kept and kept[0][0].role == "assistant":
        kept.pop(0)
    return [system, *(message for unit in kept for message in unit), latest]

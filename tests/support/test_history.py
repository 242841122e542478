from __future__ import annotations

from taskgo.support.history import (
    cut_pasted_text,
    estimate_message_tokens,
    estimate_tokens,
    trim_history,
)
from taskgo.support.provider import ChatMessage, ToolCall

SYSTEM = ChatMessage(role="system", content="Você é o suporte do TaskGo. " * 20)


def _exchange(index: int, size: int = 400) -> list[ChatMessage]:
    return [
        ChatMessage(role="user", content=f"pergunta {index} " + "x" * size),
        ChatMessage(role="assistant", content=f"resposta {index} " + "y" * size),
    ]


def test_estimate_tokens_counts_digits_in_groups() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abc") == 1
    assert estimate_tokens("123456") == 2
    assert estimate_tokens("abcdef 1234") == 2 + 3


def test_cut_short_text_unchanged() -> None:
    text = "Onde está meu pedido?"

    assert cut_pasted_text(text, max_chars=200) == (text, False)


def test_cut_long_text_keeps_head_tail_notice() -> None:
    head = "Início do texto colado. " * 10
    middle = "linha de log repetida " * 2000
    question = " Então, onde está meu pedido?"
    text = head + middle + question

    cut, was_cut = cut_pasted_text(text, max_chars=1000, locale="pt_BR")

    assert was_cut
    assert len(cut) <= 1000
    assert cut.startswith("Início do texto colado.")
    assert cut.endswith("onde está meu pedido?")
    assert "caracteres foram cortados aqui" in cut


def test_cut_notice_counts_omitted_in_locale() -> None:
    text = "a" * 30_000

    cut_pt, _ = cut_pasted_text(text, max_chars=500, locale="pt_BR")
    cut_en, _ = cut_pasted_text(text, max_chars=500, locale="en")

    omitted = 30_000 - sum(len(part) for part in cut_pt.split("\n\n") if part.startswith("a"))
    assert f"{omitted:,}".replace(",", ".") in cut_pt
    assert "characters were cut here" in cut_en


def test_trim_keeps_everything_when_it_fits() -> None:
    history = _exchange(1, 50) + _exchange(2, 50)
    latest = ChatMessage(role="user", content="e agora?")

    messages = trim_history(system=SYSTEM, history=history, latest=latest, budget=5000)

    assert messages == [SYSTEM, *history, latest]


def test_trim_drops_oldest_first() -> None:
    history = [message for index in range(10) for message in _exchange(index)]
    latest = ChatMessage(role="user", content="última pergunta")
    budget = 1000

    messages = trim_history(system=SYSTEM, history=history, latest=latest, budget=budget)

    assert messages[0] == SYSTEM
    assert messages[-1] == latest
    assert sum(estimate_message_tokens(message) for message in messages) <= budget
    kept = messages[1:-1]
    assert kept == history[-len(kept) :]
    assert 0 < len(kept) < len(history)
    assert kept[0].role == "user"


def test_trim_keeps_system_and_latest_over_budget() -> None:
    history = _exchange(1)
    latest = ChatMessage(role="user", content="z" * 6000)

    messages = trim_history(system=SYSTEM, history=history, latest=latest, budget=100)

    assert messages == [SYSTEM, latest]


def test_trim_reserved_tokens_reduce_history() -> None:
    history = [message for index in range(6) for message in _exchange(index, 100)]
    latest = ChatMessage(role="user", content="oi")

    roomy = trim_history(system=SYSTEM, history=history, latest=latest, budget=1200)
    tight = trim_history(system=SYSTEM, history=history, latest=latest, budget=1200, reserved=600)

    assert len(tight) < len(roomy)


def test_trim_never_splits_tool_exchange() -> None:
    call = ToolCall(id="call_1", name="list_my_purchases", arguments="{}")
    history = [
        ChatMessage(role="user", content="p1 " + "a" * 300),
        ChatMessage(role="assistant", content=None, tool_calls=(call,)),
        ChatMessage(role="tool", content="r" * 900, tool_call_id="call_1"),
        ChatMessage(role="assistant", content="resposta " + "b" * 30),
    ]
    latest = ChatMessage(role="user", content="e então?")
    budget = (
        estimate_message_tokens(SYSTEM)
        + estimate_message_tokens(latest)
        + estimate_message_tokens(history[3])
        + 50
    )

    messages = trim_history(system=SYSTEM, history=history, latest=latest, budget=budget)

    roles = [message.role for message in messages]
    assert "tool" not in roles
    # The assistant reply whose question was dropped goes too.
    assert roles == ["system", "user"]


def test_trim_drops_orphan_tool_result() -> None:
    history = [
        ChatMessage(role="tool", content="{}", tool_call_id="gone"),
        ChatMessage(role="user", content="oi"),
        ChatMessage(role="assistant", content="olá"),
    ]
    latest = ChatMessage(role="user", content="tudo bem?")

    messages = trim_history(system=SYSTEM, history=history, latest=latest, budget=5000)

    assert [message.role for message in messages] == ["system", "user", "assistant", "user"]

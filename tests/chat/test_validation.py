import pytest

from taskgo.chat.validation import check_client_message_id, normalize_body
from taskgo.errors import AppError


def _code(value: object) -> str:
    with pytest.raises(AppError) as caught:
        normalize_body(value)
    return caught.value.code


def test_body_trimmed_and_line_breaks_normalized() -> None:
    assert normalize_body("  Quando chega?\r\nObrigado\r ") == "Quando chega?\nObrigado"


def test_body_keeps_tabs_emoji_and_joiners() -> None:
    text = "Oi\tPedro 👨‍👩‍👧 ✔️"
    assert normalize_body(text) == text


def test_body_empty_after_trim_rejected() -> None:
    assert _code("   \n\t ") == "chat.body_empty"
    assert _code("") == "chat.body_empty"


@pytest.mark.parametrize("text", ["\u200b", " \u2060\ufeff\u200d ", "\u3164\u2800", "\u00ad"])
def test_invisible_only_body_rejected(text: str) -> None:
    assert _code(text) == "chat.body_empty"
    assert normalize_body(f"oi{text}oi") == f"oi{text}oi"


def test_body_length_limit_counts_characters() -> None:
    assert normalize_body("ç" * 4000) == "ç" * 4000
    assert normalize_body("  " + "a" * 4000 + "  ") == "a" * 4000
    assert _code("a" * 4001) == "chat.body_too_long"


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\u202e", "\u2066"])
def test_body_control_characters_rejected(char: str) -> None:
    with pytest.raises(AppError) as caught:
        normalize_body(f"oi{char}tudo bem")
    assert caught.value.code == "chat.body_control_character"
    assert caught.value.field == "body"
    assert caught.value.params["codepoint"] == f"U+{ord(char):04X}"


@pytest.mark.parametrize("value", [None, 42, ["oi"], {"text": "oi"}])
def test_body_not_a_string_rejected(value: object) -> None:
    assert _code(value) == "chat.body_invalid"


def test_client_message_id_accepts_uuid_and_tokens() -> None:
    assert check_client_message_id("3f6c1c9e-4b7a-4a57-9a53-0e4f0b5d9b11") == (
        "3f6c1c9e-4b7a-4a57-9a53-0e4f0b5d9b11"
    )
    assert check_client_message_id("a" * 64) == "a" * 64
    assert check_client_message_id("web:17.3_x") == "web:17.3_x"


@pytest.mark.parametrize("value", ["", "a" * 65, "tem espaço", "ção", None, 12, "a/b"])
def test_client_message_id_invalid_rejected(value: object) -> None:
    with pytest.raises(AppError) as caught:
        check_client_message_id(value)
    assert caught.value.code == "chat.client_message_id_invalid"
    assert caught.value.field == "clientMessageId"

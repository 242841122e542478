"""Message parameters that are message keys themselves (Label) follow the message's locale."""

from __future__ import annotations

import pytest

from taskgo.errors import AppError
from taskgo.i18n import Label, set_current_locale, translate
from taskgo.service_orders.lifecycle import status_label


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("pt_BR", "Esta ação não é permitida para uma ordem em andamento."),
        ("en", "This action is not allowed for an order that is in progress."),
    ],
)
def test_label_follows_message_locale(locale: str, expected: str) -> None:
    message = translate(
        "service_order.invalid_status", locale, status_name=status_label("in_progress")
    )

    assert message == expected


def test_label_uses_request_locale() -> None:
    error = AppError(
        "verification.already_decided",
        status=409,
        status_name=Label("verification.status.approved"),
    )

    set_current_locale("en")
    try:
        in_english = error.message()
    finally:
        set_current_locale("pt_BR")

    assert in_english == "This submission was already decided (approved)."
    assert error.message() == "Este envio já foi decidido (aprovado)."

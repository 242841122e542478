"""Message parameters that are message keys themselves (Label) follow the message's locale."""

from __future__ import annotations

import pytest

from taskgo.errors import AppError
from taskgo.i18n import Label, set_current_locale, translate
from taskgo.purchases.transitions import status_label as purchase_status_label
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


@pytest.mark.parametrize("locale", ["pt_BR", "en"])
def test_every_status_has_label(locale: str) -> None:
    from taskgo.purchases.models import PurchaseStatus
    from taskgo.service_orders.models import OrderStatus
    from taskgo.verification.models import SubmissionStatus

    keys = [
        *(f"purchase.status.{status.value}" for status in PurchaseStatus),
        *(f"service_order.status.{status.value}" for status in OrderStatus),
        *(f"verification.status.{status.value}" for status in SubmissionStatus),
    ]
    for key in keys:
        assert translate(key, locale) != key, key


def test_purchase_status_in_portuguese() -> None:
    error = AppError(
        "purchase.cannot_cancel", status=409, status_name=purchase_status_label("shipped")
    )

    assert error.message("pt_BR") == (
        "Este pedido não pode mais ser cancelado (status atual: enviado). "
        "Depois do envio, abra uma disputa."
    )

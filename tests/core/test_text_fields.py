"""Free-text fields other people read: no control characters, something visible."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from taskgo.errors import describe_validation_errors
from taskgo.products.schemas import ProductCreateIn
from taskgo.purchases.schemas import DisputeIn
from taskgo.service_orders.schemas import ServiceOrderCancelIn, ServiceOrderCreateIn

PRODUCT = {"price": "10.00", "category": "tintas", "lat": -24.95, "lng": -53.45}
ORDER = {"category": "pintura", "lat": -24.95, "lng": -53.45}


def _error(model: type[Any], body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    [first, *_] = describe_validation_errors(caught.value.errors())
    return first


@pytest.mark.parametrize(
    ("model", "body", "field", "code"),
    [
        (ProductCreateIn, {**PRODUCT, "title": "\u200b\u200b\u200b"}, "title", "validation.blank"),
        (
            ProductCreateIn,
            {**PRODUCT, "title": "\u0007\u001b[31mTinta"},
            "title",
            "validation.control_character",
        ),
        (
            ProductCreateIn,
            {**PRODUCT, "title": "Tinta\nbranca"},
            "title",
            "validation.control_character",
        ),
        (
            ProductCreateIn,
            {**PRODUCT, "title": "Tinta", "description": "abc\u202edef"},
            "description",
            "validation.control_character",
        ),
        (DisputeIn, {"reason": "\u200b" * 5}, "reason", "validation.blank"),
        (
            ServiceOrderCreateIn,
            {**ORDER, "description": "\u200b" * 10},
            "description",
            "validation.blank",
        ),
        (ServiceOrderCancelIn, {"reason": "ok\u0000"}, "reason", "validation.control_character"),
    ],
)
def test_invisible_or_control_text_rejected(
    model: type[Any], body: dict[str, Any], field: str, code: str
) -> None:
    error = _error(model, body)

    assert error["code"] == code
    assert error["field"] == field
    assert "{" not in error["message"]


def test_control_character_message_names_codepoint() -> None:
    error = _error(ProductCreateIn, {**PRODUCT, "title": "Tinta\u202eazul"})

    assert error["message"] == (
        "O campo title contém um caractere de controle não permitido (U+202E). "
        "Remova-o e envie novamente."
    )


def test_line_breaks_allowed_in_descriptions() -> None:
    product = ProductCreateIn.model_validate(
        {**PRODUCT, "title": "Tinta acrílica", "description": "Linha 1\nLinha 2\tfim 👩‍🎨"}
    )

    assert product.description == "Linha 1\nLinha 2\tfim 👩‍🎨"

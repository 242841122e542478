"""Request and response bodies of the product routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from taskgo.geo.schemas import Accuracy, Latitude, Longitude
from taskgo.money import MoneyOut, Price
from taskgo.schemas import MULTILINE_TEXT, SINGLE_LINE_TEXT, ApiModel
from taskgo.users.schemas import CityOut

Title = Annotated[str, Field(min_length=3, max_length=120), SINGLE_LINE_TEXT]
Description = Annotated[str, Field(max_length=5000), MULTILINE_TEXT]
Category = Annotated[str, Field(min_length=2, max_length=50, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]


def reject_bool(value: object) -> object:
    """Reject JSON `true`/`false`, which pydantic's lax mode would read as the integers 1 and 0."""
    if isinstance(value, bool):
        raise PydanticCustomError("validation.int_type", "expected an integer")
    return value


# Lax on purpose: "7" is accepted as 7, but a boolean is not a count.
Stock = Annotated[int, BeforeValidator(reject_bool), Field(ge=0, le=1_000_000, strict=False)]


class ProductCreateIn(ApiModel):
    title: Title
    description: Description = ""
    price: Price
    category: Category
    stock: Stock = 1
    lat: Latitude
    lng: Longitude
    accuracy: Accuracy | None = None
    status: Literal["active", "draft"] = "active"


class ProductUpdateIn(ApiModel):
    # An explicit null fails the field's type check. An omitted field reads as None, so
    # read only the fields in model_fields_set.
    title: Annotated[Title, Field(default=None)]
    description: Annotated[Description, Field(default=None)]
    price: Annotated[Price, Field(default=None)]
    category: Annotated[Category, Field(default=None)]
    stock: Annotated[Stock, Field(default=None)]
    status: Annotated[Literal["active", "draft"], Field(default=None)]


class ProductImageOut(ApiModel):
    id: uuid.UUID
    url: str
    width: int
    height: int
    position: int


class ProductOut(ApiModel):
    id: uuid.UUID
    title: str
    description: str
    price: MoneyOut
    category: str
    stock: int
    status: str
    seller_id: uuid.UUID
    created_in_city: CityOut | None
    images: list[ProductImageOut]
    created_at: datetime
    updated_at: datetime


class ProductPage(ApiModel):
    items: list[ProductOut]
    next_cursor: str | None
    city: CityOut | None = None

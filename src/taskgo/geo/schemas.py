"""Coordinate types for request bodies and query parameters, and the city views.

`Latitude`, `Longitude` and `Accuracy` accept JSON numbers or plain decimal strings with a
dot ("-24.9555"). A decimal comma ("-24,9555", as Brazilian keyboards type it) is rejected
with `location.decimal_comma` rather than read as another number; so are NaN, infinities,
exponents, booleans and values out of range, each with its own error code.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from taskgo.geo.dataset import CityRef
from taskgo.schemas import ApiModel

# ASCII digits only: float() also reads full-width and Arabic-Indic digits.
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


def parse_decimal(value: Any) -> float:
    """Read a finite float from a JSON number or a dot-decimal string."""
    if isinstance(value, bool) or value is None:
        raise PydanticCustomError("location.invalid_number", "must be a decimal number")
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            raise PydanticCustomError(
                "location.invalid_number", "must be a decimal number"
            ) from None
    elif isinstance(value, str):
        text = value.strip()
        if "," in text:
            raise PydanticCustomError(
                "location.decimal_comma", "use a dot as the decimal separator", {"value": text[:32]}
            )
        if not _DECIMAL.fullmatch(text):
            raise PydanticCustomError("location.invalid_number", "must be a decimal number")
        number = float(text)
    else:
        raise PydanticCustomError("location.invalid_number", "must be a decimal number")
    if not math.isfinite(number):
        raise PydanticCustomError("location.invalid_number", "must be a decimal number")
    return number


def parse_latitude(value: Any) -> float:
    number = parse_decimal(value)
    if not -90.0 <= number <= 90.0:
        raise PydanticCustomError("location.latitude_out_of_range", "latitude must be in [-90, 90]")
    return number


def parse_longitude(value: Any) -> float:
    number = parse_decimal(value)
    if not -180.0 <= number <= 180.0:
        raise PydanticCustomError(
            "location.longitude_out_of_range", "longitude must be in [-180, 180]"
        )
    return number


def parse_accuracy(value: Any) -> float:
    number = parse_decimal(value)
    if number < 0:
        raise PydanticCustomError("location.accuracy_negative", "accuracy must be >= 0 metres")
    return number


Latitude = Annotated[
    float,
    BeforeValidator(parse_latitude),
    WithJsonSchema(
        {
            "type": "number",
            "minimum": -90,
            "maximum": 90,
            "description": "Decimal degrees, dot as separator.",
        }
    ),
]
Longitude = Annotated[
    float,
    BeforeValidator(parse_longitude),
    WithJsonSchema(
        {
            "type": "number",
            "minimum": -180,
            "maximum": 180,
            "description": "Decimal degrees, dot as separator.",
        }
    ),
]
Accuracy = Annotated[
    float,
    BeforeValidator(parse_accuracy),
    WithJsonSchema(
        {"type": "number", "minimum": 0, "description": "Horizontal accuracy radius in metres."}
    ),
]


class CityOut(ApiModel):
    id: int
    name: str
    uf: str

    @classmethod
    def of(cls, city: CityRef) -> CityOut:
        return cls(id=city.ibge_code, name=city.name, uf=city.uf)


class CityResolveOut(CityOut):
    state_name: str
    timezone: str
    distance_km: float

    @classmethod
    def resolved(cls, city: CityRef, *, distance_km: float) -> CityResolveOut:
        return cls(
            id=city.ibge_code,
            name=city.name,
            uf=city.uf,
            state_name=city.state_name,
            timezone=city.timezone,
            distance_km=round(distance_km, 3),
        )

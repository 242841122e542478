"""Coordinate parsing: exact for dot decimals, a clear error for everything else."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from taskgo.geo.schemas import Accuracy, Latitude, Longitude
from taskgo.schemas import ApiModel


class Body(ApiModel):
    lat: Latitude
    lng: Longitude
    accuracy: Accuracy | None = None


def error_types(**fields: Any) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        Body.model_validate({"lat": -24.9555, "lng": -53.4552, **fields})
    return [str(error["type"]) for error in caught.value.errors()]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(-24.9555, -24.9555), ("-24.9555", -24.9555), ("  -24.9555 ", -24.9555), (0, 0.0),
     ("90", 90.0), (-90, -90.0), ("+1.5", 1.5), (".5", 0.5), ("-0", 0.0)],
)  # fmt: skip
def test_latitude_accepted(raw: Any, expected: float) -> None:
    assert Body.model_validate({"lat": raw, "lng": -53.0}).lat == expected


def test_decimal_comma_rejected_not_misread() -> None:
    assert error_types(lat="-24,9555") == ["location.decimal_comma"]
    assert error_types(lng="-53,4552") == ["location.decimal_comma"]
    assert error_types(accuracy="12,5") == ["location.decimal_comma"]
    assert error_types(lat="1.234,5") == ["location.decimal_comma"]


@pytest.mark.parametrize(
    "raw",
    ["nan", "NaN", "inf", "-Infinity", float("nan"), float("inf"), "1e2", "0x10", "", "abc",
     "--1", "1.2.3", True, False, None, [1.0], {"value": 1}, 10**400,
     "-\uff12\uff14.9555", "\u0661\u0662"],
)  # fmt: skip
def test_non_numbers_rejected(raw: Any) -> None:
    assert error_types(lat=raw) == ["location.invalid_number"]


@pytest.mark.parametrize("raw", [90.0001, -90.5, "91", 1000])
def test_latitude_range(raw: Any) -> None:
    assert error_types(lat=raw) == ["location.latitude_out_of_range"]


@pytest.mark.parametrize("raw", [180.0001, -181, "200"])
def test_longitude_range(raw: Any) -> None:
    assert error_types(lng=raw) == ["location.longitude_out_of_range"]


def test_accuracy_rules() -> None:
    assert Body.model_validate({"lat": 0, "lng": 0, "accuracy": 0}).accuracy == 0.0
    assert Body.model_validate({"lat": 0, "lng": 0, "accuracy": "15.5"}).accuracy == 15.5
    assert Body.model_validate({"lat": 0, "lng": 0}).accuracy is None
    assert error_types(accuracy=-1) == ["location.accuracy_negative"]
    assert error_types(accuracy="nan") == ["location.invalid_number"]


def test_json_schema_describes_numbers() -> None:
    schema = Body.model_json_schema()

    assert schema["properties"]["lat"]["type"] == "number"
    assert schema["properties"]["lat"]["minimum"] == -90
    assert schema["properties"]["lng"]["maximum"] == 180

"""Mapping of SRO event codes and local times to normalized events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from taskgo.tracking.correios_events import (
    map_carrier_code,
    map_correios_status,
    parse_correios_event,
    parse_correios_time,
)
from taskgo.tracking.statuses import TrackingStatus


@pytest.mark.parametrize(
    ("family", "event_type", "expected"),
    [
        ("PO", 1, TrackingStatus.POSTED),
        ("PO", 9, TrackingStatus.POSTED),
        ("CO", 1, TrackingStatus.POSTED),
        ("RO", 1, TrackingStatus.IN_TRANSIT),
        ("DO", 1, TrackingStatus.IN_TRANSIT),
        ("PAR", 16, TrackingStatus.IN_TRANSIT),
        ("OEC", 1, TrackingStatus.OUT_FOR_DELIVERY),
        ("OEC", 9, TrackingStatus.RETURNING),
        ("LDI", 1, TrackingStatus.AWAITING_PICKUP),
        ("LDI", 14, TrackingStatus.AWAITING_PICKUP),
        ("FC", 1, TrackingStatus.RETURNING),
        ("FC", 4, TrackingStatus.IN_TRANSIT),
        ("BLQ", 1, TrackingStatus.EXCEPTION),
        ("BDE", 0, TrackingStatus.DELIVERED),
        ("BDE", 1, TrackingStatus.DELIVERED),
        ("BDI", 1, TrackingStatus.DELIVERED),
        ("BDR", 1, TrackingStatus.DELIVERED),
        ("BDE", 23, TrackingStatus.RETURNED),
        ("BDE", 2, TrackingStatus.AWAITING_PICKUP),
        ("BDE", 3, TrackingStatus.DELIVERY_FAILED),
        ("BDE", 20, TrackingStatus.DELIVERY_FAILED),
        ("BDI", 33, TrackingStatus.DELIVERY_FAILED),
        ("BDE", 9, TrackingStatus.EXCEPTION),
        ("BDE", 50, TrackingStatus.EXCEPTION),
        ("bde", 1, TrackingStatus.DELIVERED),
        ("BDE", 99, None),
        ("BDE", None, None),
        ("XYZ", 1, None),
    ],
)
def test_status_mapping(
    family: str, event_type: int | None, expected: TrackingStatus | None
) -> None:
    assert map_correios_status(family, event_type) == expected


@pytest.mark.parametrize(
    ("carrier_code", "expected"),
    [
        ("PO-01", TrackingStatus.POSTED),
        ("OEC-09", TrackingStatus.RETURNING),
        ("BDE-23", TrackingStatus.RETURNED),
        ("BDE-123", None),
        ("BDE---", None),
        ("ZZZ-07", None),
    ],
)
def test_stored_code_mapping(carrier_code: str, expected: TrackingStatus | None) -> None:
    assert map_carrier_code(carrier_code) == expected


@pytest.mark.parametrize(
    ("local", "uf", "expected_utc"),
    [
        ("2026-03-04T14:40:30", "SP", datetime(2026, 3, 4, 17, 40, 30, tzinfo=UTC)),
        ("2026-03-04T14:40:30", None, datetime(2026, 3, 4, 17, 40, 30, tzinfo=UTC)),
        ("2026-03-04T14:40:30", "am", datetime(2026, 3, 4, 18, 40, 30, tzinfo=UTC)),
        ("2026-03-04T14:40:30", "AC", datetime(2026, 3, 4, 19, 40, 30, tzinfo=UTC)),
        ("2026-03-04T23:30:00", "MS", datetime(2026, 3, 5, 3, 30, tzinfo=UTC)),
        # São Paulo still observed daylight saving time (UTC-2) in January 2018.
        ("2018-01-10T12:00:00", "SP", datetime(2018, 1, 10, 14, 0, tzinfo=UTC)),
        ("2026-03-04T14:40:30-02:00", "SP", datetime(2026, 3, 4, 16, 40, 30, tzinfo=UTC)),
    ],
)
def test_local_time_to_utc(local: str, uf: str | None, expected_utc: datetime) -> None:
    assert parse_correios_time(local, uf=uf) == expected_utc


def test_event_with_numeric_type_and_unit() -> None:
    event = parse_correios_event(
        {
            "codigo": "BDE",
            "tipo": 23,
            "descricao": " Objeto entregue ao remetente ",
            "dtHrCriado": "2026-03-27T14:40:30",
            "unidade": {"endereco": {"cidade": "COLOMBO", "uf": "PR"}},
        }
    )

    assert event.status is TrackingStatus.RETURNED
    assert event.carrier_code == "BDE-23"
    assert event.description == "Objeto entregue ao remetente"
    assert event.location == "COLOMBO - PR"
    assert event.mapped
    assert event.event_key == "BDE-23@20260327T144030"


def test_event_key_ignores_unit_address() -> None:
    """The same event read with and without its unit's address has one key, although the
    address moves its UTC time by the unit's zone."""
    raw = {"codigo": "RO", "tipo": "01", "dtHrCriado": "2026-03-04T14:00:00"}
    with_address = parse_correios_event(
        {**raw, "unidade": {"nome": "CTE PORTO VELHO", "endereco": {"uf": "RO"}}}
    )
    without_address = parse_correios_event({**raw, "unidade": {"nome": "CTE PORTO VELHO"}})

    assert with_address.occurred_at != without_address.occurred_at
    assert with_address.event_key == without_address.event_key == "RO-01@20260304T140000"


def test_unknown_event_kept_as_in_transit() -> None:
    event = parse_correios_event(
        {
            "codigo": "ZZZ",
            "tipo": "07",
            "descricao": "Novo evento",
            "dtHrCriado": "2026-03-01T10:00:00",
        }
    )

    assert event.status is TrackingStatus.IN_TRANSIT
    assert not event.mapped
    assert event.location is None


@pytest.mark.parametrize(
    "raw",
    [
        {"tipo": "01", "dtHrCriado": "2026-03-01T10:00:00"},
        {"codigo": "PO", "tipo": "01"},
        {"codigo": "PO", "tipo": "01", "dtHrCriado": "ontem"},
        {"codigo": " ", "tipo": "01", "dtHrCriado": "2026-03-01T10:00:00"},
        {"codigo": "X" * 100, "tipo": "01", "dtHrCriado": "2026-03-01T10:00:00"},
        {"codigo": "PO", "tipo": "01", "dtHrCriado": "9999-12-31T23:00:00"},
        {"codigo": "PO", "tipo": "01", "dtHrCriado": "0001-01-01T00:00:00+05:00"},
    ],
)
def test_malformed_event_raises(raw: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        parse_correios_event(raw)


def test_unstorable_characters_are_dropped() -> None:
    event = parse_correios_event(
        {
            "codigo": "PO",
            "tipo": "01",
            "descricao": "Objeto\u0000 postado\ud800",
            "dtHrCriado": "2026-03-01T10:00:00",
            "unidade": {"endereco": {"cidade": "CAS\u0000CAVEL", "uf": "pr\udfff"}},
        }
    )

    assert event.description == "Objeto postado"
    assert event.location == "CASCAVEL - PR"


@pytest.mark.parametrize("raw_type", ["9" * 40, 10**40, -1, "\u00b2"])
def test_out_of_range_type_unknown(raw_type: object) -> None:
    event = parse_correios_event(
        {"codigo": "BDE", "tipo": raw_type, "dtHrCriado": "2026-03-01T10:00:00"}
    )

    assert event.carrier_code == "BDE---"
    assert not event.mapped

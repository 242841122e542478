"""Translation of Correios SRO events into normalized statuses and UTC times.

SRO identifies an event by a family code (``codigo``, such as ``BDE``) and a type
(``tipo``, a two-digit number that the API returns as a string or as an integer).
The mapping below covers the families a domestic parcel goes through. Anything else
maps to ``in_transit`` and is reported as unmapped so the table can grow from real data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from taskgo.tracking.statuses import TrackingStatus

# Brazil has four offsets, and SRO writes each time in the local time of the unit that
# recorded it, without an offset. The state (UF) of the unit picks the zone.
_DEFAULT_ZONE = ZoneInfo("America/Sao_Paulo")
_ZONE_BY_UF: dict[str, ZoneInfo] = {
    "AC": ZoneInfo("America/Rio_Branco"),
    "AM": ZoneInfo("America/Manaus"),
    "RO": ZoneInfo("America/Porto_Velho"),
    "RR": ZoneInfo("America/Boa_Vista"),
    "MT": ZoneInfo("America/Cuiaba"),
    "MS": ZoneInfo("America/Campo_Grande"),
}

# SRO family codes are a few letters, so a longer code is rejected instead of keyed.
_FAMILY_PATTERN = re.compile(r"[A-Z0-9]{1,8}")
# PostgreSQL text cannot hold NUL, and a lone surrogate cannot be encoded as UTF-8.
_UNSTORABLE_CHARS = re.compile(r"[\x00\ud800-\udfff]")

# Families whose every type means the parcel moves between units.
_IN_TRANSIT_FAMILIES = frozenset({"RO", "DO", "TRI", "PAR", "PMT", "CMT", "CUN", "CD", "TRA"})
_POSTED_FAMILIES = frozenset({"PO", "CO"})
# Final-delivery families: BDE (to the addressee), BDI (at a unit), BDR (to a box).
_DELIVERY_FAMILIES = frozenset({"BDE", "BDI", "BDR"})
# Delivery-family types for loss, theft, damage or seizure: someone has to act.
_DELIVERY_EXCEPTION_TYPES = frozenset({9, 12, 28, 37, 43, 50, 51, 52, 80})
# Delivery-family types where the parcel waits at a unit for the addressee.
_DELIVERY_PICKUP_TYPES = frozenset({2, 54})
# Delivery-family types for an attempt that failed (addressee absent, address wrong, ...).
_DELIVERY_FAILED_TYPES = (
    frozenset({*range(3, 22), 26, 33, 36, 40, 42, 48, 49, 56}) - _DELIVERY_EXCEPTION_TYPES
)


@dataclass(frozen=True, slots=True)
class CarrierEvent:
    """One tracking event, normalized, from the carrier or typed in by a person."""

    carrier_code: str | None
    status: TrackingStatus
    description: str
    location: str | None
    occurred_at: datetime
    # Identity of the event within its shipment. SRO events get one from what SRO itself
    # recorded (see correios_event_key). Manual events get a random one, because a person
    # may add the same step twice.
    key: str
    mapped: bool = True

    @property
    def event_key(self) -> str:
        """Identity of the event within its shipment, stable across polls."""
        return self.key


def correios_event_key(carrier_code: str, local_time: datetime) -> str:
    """Key of an SRO event: its code and the time SRO printed, ``RO-01@20260304T140000``.

    The UTC time is no identity: it depends on the unit's state, which picks the time
    zone, and SRO sends the unit's address in some responses and not in others. The same
    event would then get two keys and be stored and announced twice. The printed time
    and the code are what SRO recorded, and they do not change between polls.
    """
    return f"{carrier_code}@{local_time.strftime('%Y%m%dT%H%M%S')}"


def map_correios_status(family: str, event_type: int | None) -> TrackingStatus | None:
    """Map an SRO family code and type to a normalized status, or ``None`` when unknown."""
    family = family.upper()
    if family in _POSTED_FAMILIES:
        return TrackingStatus.POSTED
    if family in _IN_TRANSIT_FAMILIES:
        return TrackingStatus.IN_TRANSIT
    if family == "OEC":
        # Type 09 is "saiu para entrega ao remetente": the parcel is on its way back.
        return TrackingStatus.RETURNING if event_type == 9 else TrackingStatus.OUT_FOR_DELIVERY
    if family == "LDI":
        return TrackingStatus.AWAITING_PICKUP
    if family == "FC":
        # Type 01 announces a return to the sender; other types are routing notes.
        return TrackingStatus.RETURNING if event_type == 1 else TrackingStatus.IN_TRANSIT
    if family == "BLQ":
        return TrackingStatus.EXCEPTION
    if family in _DELIVERY_FAMILIES:
        return _map_delivery_type(event_type)
    return None


def map_carrier_code(carrier_code: str) -> TrackingStatus | None:
    """Map a stored carrier code (``BDE-01``, or ``BDE---`` without a usable type) like SRO's.

    Returns ``None`` for an event that the table does not cover, which was stored as
    ``in_transit`` only by default.
    """
    family, _, type_suffix = carrier_code.partition("-")
    return map_correios_status(family, parse_event_type(type_suffix))


def _map_delivery_type(event_type: int | None) -> TrackingStatus | None:
    if event_type is None:
        return None
    if event_type in (0, 1):
        return TrackingStatus.DELIVERED
    if event_type == 23:
        return TrackingStatus.RETURNED
    if event_type in _DELIVERY_EXCEPTION_TYPES:
        return TrackingStatus.EXCEPTION
    if event_type in _DELIVERY_PICKUP_TYPES:
        return TrackingStatus.AWAITING_PICKUP
    if event_type in _DELIVERY_FAILED_TYPES:
        return TrackingStatus.DELIVERY_FAILED
    return None


def parse_correios_time(value: str | datetime, *, uf: str | None) -> datetime:
    """Convert an SRO timestamp to an aware UTC datetime.

    SRO sends ``2023-03-27T14:40:30`` in the local time of the recording unit. A value
    that carries its own offset keeps it. Raises ``ValueError`` on an unparsable value.
    """
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        zone = _ZONE_BY_UF.get((uf or "").upper(), _DEFAULT_ZONE)
        parsed = parsed.replace(tzinfo=zone)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"SRO time out of range after conversion to UTC: {value!r}") from exc


def parse_event_type(raw: Any) -> int | None:
    """Read the SRO ``tipo`` field, which arrives as ``"01"`` or as ``1``."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if 0 <= raw <= 999 else None
    if isinstance(raw, str) and re.fullmatch(r"[0-9]{1,3}", raw.strip()):
        return int(raw.strip())
    return None


def _clean_text(value: str) -> str:
    return _UNSTORABLE_CHARS.sub("", value).strip()


def format_unit_location(unit: Any) -> tuple[str | None, str | None]:
    """Return ``("CITY - UF", UF)`` for an SRO ``unidade`` object; parts may be missing."""
    if not isinstance(unit, dict):
        return None, None
    address = unit.get("endereco")
    if not isinstance(address, dict):
        name = unit.get("nome")
        cleaned = _clean_text(name) if isinstance(name, str) else ""
        return cleaned or None, None
    city = address.get("cidade")
    uf = address.get("uf")
    city = _clean_text(city) if isinstance(city, str) else None
    uf = _clean_text(uf).upper() if isinstance(uf, str) else None
    city = city or None
    uf = uf or None
    if city and uf:
        return f"{city} - {uf}", uf
    return city or uf, uf


def parse_correios_event(raw: dict[str, Any]) -> CarrierEvent:
    """Build a :class:`CarrierEvent` from one element of an SRO ``eventos`` list.

    Raises ``ValueError`` when the event lacks its code or its time, so a malformed
    event is skipped by the caller rather than stored half-read.
    """
    family = raw.get("codigo")
    created = raw.get("dtHrCriado")
    if not isinstance(family, str) or not family.strip():
        raise ValueError("SRO event without codigo")
    family = family.strip().upper()
    if not _FAMILY_PATTERN.fullmatch(family):
        raise ValueError(f"SRO event with an invalid codigo: {family[:20]!r}")
    if not isinstance(created, str):
        raise ValueError("SRO event without dtHrCriado")
    printed = datetime.fromisoformat(created)

    event_type = parse_event_type(raw.get("tipo"))
    location, uf = format_unit_location(raw.get("unidade"))
    status = map_correios_status(family, event_type)
    description = raw.get("descricao")
    type_suffix = f"{event_type:02d}" if event_type is not None else "--"
    carrier_code = f"{family}-{type_suffix}"

    return CarrierEvent(
        carrier_code=carrier_code,
        status=status or TrackingStatus.IN_TRANSIT,
        description=_clean_text(description) if isinstance(description, str) else "",
        location=location,
        occurred_at=parse_correios_time(printed, uf=uf),
        mapped=status is not None,
        key=correios_event_key(carrier_code, printed),
    )

"""Upgrading stored Correios events to keys made of the local time SRO printed (0015)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from alembic import command
from sqlalchemy.engine import make_url

from taskgo.db.migrate import alembic_config
from taskgo.jobs.queue import libpq_url
from taskgo.tracking.correios_events import parse_correios_event

STORED_AT = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
def old_database(database_url: str) -> Iterator[str]:
    """Return the URL of a new database migrated to revision 0014, dropped afterwards."""
    name = f"taskgo_upgrade_{uuid.uuid4().hex[:8]}"
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        command.upgrade(alembic_config(url), "0014")
        yield url
    finally:
        with psycopg.connect(libpq_url(database_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _purchase(connection: psycopg.Connection) -> uuid.UUID:
    users = []
    for role in ("client", "partner"):
        user_id = uuid.uuid4()
        connection.execute(
            "INSERT INTO users (id, firebase_uid, role, name) VALUES (%s, %s, %s, 'Upgrade')",
            (user_id, f"uid-{user_id.hex[:12]}", role),
        )
        users.append(user_id)
    purchase_id = uuid.uuid4()
    connection.execute(
        "INSERT INTO purchases (id, buyer_id, seller_id, status, currency, total_cents,"
        " platform_fee_cents, escrow_cents, fee_bps, payment_provider, transfer_group,"
        " captured_cents, refunded_cents, tracking_code) VALUES (%s, %s, %s, 'shipped',"
        " 'brl', 10000, 500, 9500, 500, 'local', %s, 10000, 0, 'RA123456785BR')",
        (purchase_id, *users, f"group-{purchase_id.hex[:12]}"),
    )
    return purchase_id


def _event(
    connection: psycopg.Connection,
    purchase_id: uuid.UUID,
    *,
    key: str,
    location: str | None,
    occurred_at: datetime,
    source: str = "correios",
    stored_at: datetime = STORED_AT,
) -> uuid.UUID:
    event_id = uuid.uuid4()
    connection.execute(
        "INSERT INTO tracking_events (id, purchase_id, tracking_code, event_key, status,"
        " carrier_code, description, location, occurred_at, source, created_at)"
        " VALUES (%s, %s, 'RA123456785BR', %s, 'in_transit', %s, 'Objeto em trânsito',"
        " %s, %s, %s, %s)",
        (
            event_id,
            purchase_id,
            key,
            key.partition("@")[0] if source == "correios" else None,
            location,
            occurred_at,
            source,
            stored_at,
        ),
    )
    return event_id


def _keys(connection: psycopg.Connection) -> dict[uuid.UUID, str]:
    rows = connection.execute("SELECT id, event_key FROM tracking_events").fetchall()
    return {row[0]: row[1] for row in rows}


def _sro_key(local: str, *, uf: str | None) -> str:
    unit = {"nome": "CTE", **({"endereco": {"uf": uf}} if uf else {})}
    raw = {"codigo": "RO", "tipo": "01", "dtHrCriado": local, "unidade": unit}
    return parse_correios_event(raw).event_key


def test_keys_become_local_times(old_database: str) -> None:
    with psycopg.connect(libpq_url(old_database), autocommit=True) as connection:
        purchase_id = _purchase(connection)
        # 14:00 in Porto Velho (UTC-4), read with the unit's address.
        porto_velho = _event(
            connection,
            purchase_id,
            key="RO-01@20260304T180000Z",
            location="PORTO VELHO - RO",
            occurred_at=datetime(2026, 3, 4, 18, 0, tzinfo=UTC),
        )
        # The same event read later without the address, so in São Paulo's zone.
        twin = _event(
            connection,
            purchase_id,
            key="RO-01@20260304T170000Z",
            location="CTE PORTO VELHO",
            occurred_at=datetime(2026, 3, 4, 17, 0, tzinfo=UTC),
            stored_at=STORED_AT + timedelta(minutes=10),
        )
        # 14:00 in Manaus, the state alone as location.
        manaus = _event(
            connection,
            purchase_id,
            key="RO-01@20260305T180000Z",
            location="AM",
            occurred_at=datetime(2026, 3, 5, 18, 0, tzinfo=UTC),
        )
        # 12:00 in Paraná while São Paulo's zone kept daylight saving time (UTC-2).
        summer = _event(
            connection,
            purchase_id,
            key="RO-01@20180110T140000Z",
            location="CASCAVEL - PR",
            occurred_at=datetime(2018, 1, 10, 14, 0, tzinfo=UTC),
        )
        manual = _event(
            connection,
            purchase_id,
            key="manual:0123456789abcdef",
            location="CASCAVEL - PR",
            occurred_at=datetime(2026, 3, 6, 12, 0, tzinfo=UTC),
            source="manual",
        )
        before = _keys(connection)

    command.upgrade(alembic_config(old_database), "0015")

    with psycopg.connect(libpq_url(old_database), autocommit=True) as connection:
        after = _keys(connection)
    # Each key is the one the parser now gives the same SRO event.
    assert after[porto_velho] == _sro_key("2026-03-04T14:00:00", uf="RO")
    assert after[porto_velho] == _sro_key("2026-03-04T14:00:00", uf=None)
    assert after[porto_velho] == "RO-01@20260304T140000"
    assert after[twin] == "RO-01@20260304T170000Z"
    assert after[manaus] == "RO-01@20260305T140000"
    assert after[summer] == "RO-01@20180110T120000"
    assert after[manual] == "manual:0123456789abcdef"

    command.downgrade(alembic_config(old_database), "0014")

    with psycopg.connect(libpq_url(old_database), autocommit=True) as connection:
        assert _keys(connection) == before

"""Upgrading a database that contains unbuyable prices and English payment errors.

Revision 0013 lowers the maximum product price to the maximum purchase total, and 0014
replaces the provider's payment error text with a stable code. Each test migrates its own
database to 0012, writes rows as the older code did, and upgrades it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from psycopg import sql
from sqlalchemy.engine import make_url

from taskgo.db.migrate import alembic_config
from taskgo.jobs.queue import libpq_url

OLD_MAXIMUM = 100_000_000
NEW_MAXIMUM = 99_999_999


@pytest.fixture
def old_database(database_url: str) -> Iterator[str]:
    """Return the URL of a new database migrated to revision 0012, dropped afterwards."""
    name = f"taskgo_upgrade_{uuid.uuid4().hex[:8]}"
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        command.upgrade(alembic_config(url), "0012")
        yield url
    finally:
        with psycopg.connect(libpq_url(database_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(libpq_url(url), autocommit=True)


def _add_user(connection: psycopg.Connection, role: str) -> uuid.UUID:
    user_id = uuid.uuid4()
    connection.execute(
        "INSERT INTO users (id, firebase_uid, role, name) VALUES (%s, %s, %s, %s)",
        (user_id, f"uid-{user_id.hex[:12]}", role, "Upgrade Test"),
    )
    return user_id


def _add_product(
    connection: psycopg.Connection, seller: uuid.UUID, *, price: int, status: str
) -> uuid.UUID:
    product_id = uuid.uuid4()
    city = connection.execute("SELECT id FROM cities ORDER BY id LIMIT 1").fetchone()
    assert city is not None
    connection.execute(
        "INSERT INTO products (id, seller_id, title, description, price_cents, category, stock,"
        " status, created_in_city_id) VALUES (%s, %s, 'Lancha', '', %s, 'nautica', 1, %s, %s)",
        (product_id, seller, price, status, city[0]),
    )
    return product_id


def _add_purchase(
    connection: psycopg.Connection,
    *,
    buyer: uuid.UUID,
    seller: uuid.UUID,
    payment_error: str | None,
) -> uuid.UUID:
    purchase_id = uuid.uuid4()
    connection.execute(
        "INSERT INTO purchases (id, buyer_id, seller_id, status, currency, total_cents,"
        " platform_fee_cents, escrow_cents, fee_bps, payment_provider, transfer_group,"
        " captured_cents, refunded_cents, payment_error) VALUES (%s, %s, %s,"
        " 'pending_payment', 'brl', 10000, 500, 9500, 500, 'stripe', %s, 0, 0, %s)",
        (purchase_id, buyer, seller, f"purchase_{purchase_id}", payment_error),
    )
    return purchase_id


def _product(connection: psycopg.Connection, product_id: uuid.UUID) -> tuple[int, str]:
    row = connection.execute(
        "SELECT price_cents, status FROM products WHERE id = %s", (product_id,)
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def _column(connection: psycopg.Connection, column: str, purchase_id: uuid.UUID) -> str | None:
    query = sql.SQL("SELECT {} FROM purchases WHERE id = %s").format(sql.Identifier(column))
    row = connection.execute(query, (purchase_id,)).fetchone()
    assert row is not None
    value: str | None = row[0]
    return value


def test_unbuyable_prices_become_drafts(old_database: str) -> None:
    with _connect(old_database) as connection:
        seller = _add_user(connection, "partner")
        listed = _add_product(connection, seller, price=OLD_MAXIMUM, status="active")
        draft = _add_product(connection, seller, price=OLD_MAXIMUM, status="draft")
        deleted = _add_product(connection, seller, price=OLD_MAXIMUM, status="deleted")
        at_limit = _add_product(connection, seller, price=NEW_MAXIMUM, status="active")

    command.upgrade(alembic_config(old_database), "head")

    with _connect(old_database) as connection:
        assert _product(connection, listed) == (NEW_MAXIMUM, "draft")
        assert _product(connection, draft) == (NEW_MAXIMUM, "draft")
        assert _product(connection, deleted) == (NEW_MAXIMUM, "deleted")
        assert _product(connection, at_limit) == (NEW_MAXIMUM, "active")
        with pytest.raises(psycopg.errors.CheckViolation):
            _add_product(connection, seller, price=OLD_MAXIMUM, status="active")

    command.downgrade(alembic_config(old_database), "0012")

    with _connect(old_database) as connection:
        restored = _add_product(connection, seller, price=OLD_MAXIMUM, status="active")
        assert _product(connection, restored) == (OLD_MAXIMUM, "active")


def test_payment_errors_become_codes(old_database: str) -> None:
    messages = {
        "Your card was declined.": "payments.card_declined",
        "Your card has insufficient funds.": "payments.insufficient_funds",
        "Your card has expired.": "payments.expired_card",
        "Your card's security code is incorrect.": "payments.incorrect_cvc",
        "Something went wrong.": "payments.failed",
    }
    with _connect(old_database) as connection:
        buyer = _add_user(connection, "client")
        seller = _add_user(connection, "partner")
        purchases = {
            message: _add_purchase(connection, buyer=buyer, seller=seller, payment_error=message)
            for message in messages
        }
        clean = _add_purchase(connection, buyer=buyer, seller=seller, payment_error=None)

    command.upgrade(alembic_config(old_database), "head")

    with _connect(old_database) as connection:
        for message, code in messages.items():
            assert _column(connection, "payment_error_code", purchases[message]) == code
        assert _column(connection, "payment_error_code", clean) is None
        with pytest.raises(psycopg.errors.CheckViolation):
            connection.execute(
                "UPDATE purchases SET payment_error_code = 'Your card was declined.' WHERE id = %s",
                (clean,),
            )

    command.downgrade(alembic_config(old_database), "0012")

    with _connect(old_database) as connection:
        declined = purchases["Your card was declined."]
        assert _column(connection, "payment_error", declined) == "Your card was declined."
        other = purchases["Something went wrong."]
        assert _column(connection, "payment_error", other) == "The payment failed."
        assert _column(connection, "payment_error", clean) is None

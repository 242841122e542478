"""Purchases with escrow, and the payments tables: ledger, webhook events, connected
accounts and the local payments simulator.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_STATUSES = (
    "'pending_payment', 'paid', 'shipped', 'delivered', 'released', 'canceled', 'refunded', "
    "'payment_expired'"
)
_HOLD_REASONS = (
    "'awaiting_shipment', 'awaiting_delivery', 'awaiting_buyer_confirmation', 'dispute', "
    "'seller_payout_account_pending', 'seller_verification_pending', 'payout_retry'"
)
_DISPUTE_STATUSES = "'open', 'resolved_release', 'resolved_refund'"
_ACCOUNTS = "'buyer', 'escrow', 'platform_fee', 'seller', 'platform_loss'"
_KINDS = "'charge', 'fee', 'transfer', 'refund', 'chargeback'"


def _time(name: str, *, default_now: bool = False) -> sa.Column:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        server_default=sa.func.now() if default_now else None,
        nullable=not default_now,
    )


def upgrade() -> None:
    op.create_table(
        "purchases",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("buyer_id", sa.UUID(), nullable=False),
        sa.Column("seller_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("platform_fee_cents", sa.BigInteger(), nullable=False),
        sa.Column("escrow_cents", sa.BigInteger(), nullable=False),
        sa.Column("fee_bps", sa.Integer(), nullable=False),
        sa.Column("payment_provider", sa.String(16), nullable=False),
        sa.Column("payment_intent_id", sa.String(255)),
        sa.Column("client_secret", sa.String(255)),
        sa.Column("transfer_group", sa.String(64), nullable=False),
        sa.Column("charge_id", sa.String(255)),
        _time("payment_expires_at"),
        sa.Column("payment_error", sa.String(500)),
        _time("authorized_at"),
        _time("capture_before"),
        _time("captured_at"),
        sa.Column("captured_cents", sa.BigInteger(), nullable=False),
        sa.Column("refunded_cents", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.String(255)),
        _time("paid_at"),
        _time("ship_by"),
        _time("shipped_at"),
        sa.Column("tracking_code", sa.String(13)),
        _time("carrier_delivered_at"),
        _time("buyer_confirmed_at"),
        _time("delivered_at"),
        _time("release_at"),
        _time("released_at"),
        _time("canceled_at"),
        sa.Column("cancel_reason", sa.String(32)),
        _time("refunded_at"),
        sa.Column("hold_reason", sa.String(40)),
        sa.Column("dispute_status", sa.String(24)),
        sa.Column("dispute_reason", sa.Text()),
        _time("disputed_at"),
        sa.Column("provider_dispute_id", sa.String(255)),
        _time("created_at", default_now=True),
        _time("updated_at", default_now=True),
        sa.CheckConstraint(f"status IN ({_STATUSES})", name="ck_purchases_status"),
        sa.CheckConstraint(
            f"hold_reason IS NULL OR hold_reason IN ({_HOLD_REASONS})",
            name="ck_purchases_hold_reason",
        ),
        sa.CheckConstraint(
            f"dispute_status IS NULL OR dispute_status IN ({_DISPUTE_STATUSES})",
            name="ck_purchases_dispute_status",
        ),
        sa.CheckConstraint(
            "platform_fee_cents + escrow_cents = total_cents", name="ck_purchases_fee_split"
        ),
        sa.CheckConstraint(
            "platform_fee_cents >= 0 AND escrow_cents >= 0", name="ck_purchases_amounts"
        ),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["users.id"], name="fk_purchases_buyer_id_users", ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["seller_id"], ["users.id"], name="fk_purchases_seller_id_users", ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_purchases"),
        sa.UniqueConstraint("payment_intent_id", name="uq_purchases_payment_intent_id"),
    )
    op.create_index("ix_purchases_buyer_created", "purchases", ["buyer_id", "created_at", "id"])
    op.create_index("ix_purchases_seller_created", "purchases", ["seller_id", "created_at", "id"])
    op.create_index(
        "ix_purchases_open_status",
        "purchases",
        ["status"],
        postgresql_where=sa.text("status IN ('pending_payment', 'paid', 'shipped', 'delivered')"),
    )

    op.create_table(
        "purchase_items",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("purchase_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.UUID(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("unit_price_cents", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("subtotal_cents", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity > 0", name="ck_purchase_items_quantity"),
        sa.CheckConstraint("unit_price_cents > 0", name="ck_purchase_items_unit_price"),
        sa.CheckConstraint(
            "subtotal_cents = unit_price_cents * quantity", name="ck_purchase_items_subtotal"
        ),
        sa.ForeignKeyConstraint(
            ["purchase_id"],
            ["purchases.id"],
            name="fk_purchase_items_purchase_id_purchases",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name="fk_purchase_items_product_id_products",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_purchase_items"),
    )
    op.create_index("ix_purchase_items_purchase_id", "purchase_items", ["purchase_id"])
    op.create_index("ix_purchase_items_product_id", "purchase_items", ["product_id"])

    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("purchase_id", sa.UUID(), nullable=False),
        sa.Column("transaction_key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("account", sa.String(16), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("external_ref", sa.String(255)),
        _time("created_at", default_now=True),
        sa.CheckConstraint(f"account IN ({_ACCOUNTS})", name="ck_ledger_entries_account"),
        sa.CheckConstraint(f"kind IN ({_KINDS})", name="ck_ledger_entries_kind"),
        sa.CheckConstraint("amount_cents <> 0", name="ck_ledger_entries_amount"),
        sa.ForeignKeyConstraint(
            ["purchase_id"],
            ["purchases.id"],
            name="fk_ledger_entries_purchase_id_purchases",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_entries"),
        sa.UniqueConstraint("transaction_key", "account", name="uq_ledger_entries_key_account"),
    )
    op.create_index("ix_ledger_entries_purchase", "ledger_entries", ["purchase_id", "created_at"])

    op.create_table(
        "payment_webhook_events",
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("object_id", sa.String(255)),
        _time("received_at", default_now=True),
        sa.PrimaryKeyConstraint("event_id", name="pk_payment_webhook_events"),
    )

    op.create_table(
        "payment_accounts",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("account_id", sa.String(255), nullable=False),
        sa.Column("transfers_enabled", sa.Boolean(), nullable=False),
        sa.Column("payouts_enabled", sa.Boolean(), nullable=False),
        sa.Column("details_submitted", sa.Boolean(), nullable=False),
        _time("created_at", default_now=True),
        _time("updated_at", default_now=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_payment_accounts_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name="pk_payment_accounts"),
        sa.UniqueConstraint("account_id", name="uq_payment_accounts_account_id"),
    )

    op.create_table(
        "local_payment_objects",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("idempotency_key", sa.String(255)),
        sa.Column("transfer_group", sa.String(64)),
        sa.Column("data", postgresql.JSONB(), nullable=False),
        _time("created_at", default_now=True),
        _time("updated_at", default_now=True),
        sa.CheckConstraint(
            "kind IN ('intent', 'refund', 'transfer', 'account')",
            name="ck_local_payment_objects_kind",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_local_payment_objects"),
        sa.UniqueConstraint("idempotency_key", name="uq_local_payment_objects_idempotency_key"),
    )
    op.create_index(
        "ix_local_payment_objects_group", "local_payment_objects", ["kind", "transfer_group"]
    )


def downgrade() -> None:
    op.drop_table("local_payment_objects")
    op.drop_table("payment_accounts")
    op.drop_table("payment_webhook_events")
    op.drop_table("ledger_entries")
    op.drop_table("purchase_items")
    op.drop_table("purchases")

"""Tracking: shipments of shipped purchases, their carrier events and the poller state.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_STATUSES = (
    "'posted', 'in_transit', 'out_for_delivery', 'awaiting_pickup', 'delivery_failed', "
    "'delivered', 'returning', 'returned', 'exception'"
)


def _timestamp(name: str, *, default_now: bool = False, nullable: bool = True) -> sa.Column:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        server_default=sa.func.now() if default_now else None,
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_table(
        "tracking_shipments",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("purchase_id", sa.UUID(), nullable=False),
        sa.Column("tracking_code", sa.String(13), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("status", sa.String(24)),
        _timestamp("last_event_at"),
        _timestamp("last_polled_at"),
        _timestamp("finished_at"),
        _timestamp("not_found_since"),
        _timestamp("not_found_warned_at"),
        sa.Column("last_carrier_message", sa.String(300)),
        _timestamp("created_at", default_now=True, nullable=False),
        _timestamp("updated_at", default_now=True, nullable=False),
        sa.CheckConstraint(
            f"status IS NULL OR status IN ({_STATUSES})", name="ck_tracking_shipments_status"
        ),
        sa.CheckConstraint(
            "provider IN ('correios', 'manual')", name="ck_tracking_shipments_provider"
        ),
        sa.ForeignKeyConstraint(
            ["purchase_id"],
            ["purchases.id"],
            name="fk_tracking_shipments_purchase_id_purchases",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tracking_shipments"),
        sa.UniqueConstraint("purchase_id", name="uq_tracking_shipments_purchase_id"),
    )
    op.create_index(
        "ix_tracking_shipments_pollable",
        "tracking_shipments",
        ["last_polled_at"],
        postgresql_where=sa.text("finished_at IS NULL"),
    )

    op.create_table(
        "tracking_events",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("purchase_id", sa.UUID(), nullable=False),
        sa.Column("tracking_code", sa.String(13), nullable=False),
        sa.Column("event_key", sa.String(80), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("carrier_code", sa.String(16)),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("location", sa.String(200)),
        _timestamp("occurred_at", nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_by_id", sa.UUID()),
        _timestamp("created_at", default_now=True, nullable=False),
        sa.CheckConstraint(f"status IN ({_STATUSES})", name="ck_tracking_events_status"),
        sa.CheckConstraint("source IN ('correios', 'manual')", name="ck_tracking_events_source"),
        sa.ForeignKeyConstraint(
            ["purchase_id"],
            ["purchases.id"],
            name="fk_tracking_events_purchase_id_purchases",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name="fk_tracking_events_created_by_id_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tracking_events"),
        sa.UniqueConstraint("purchase_id", "event_key", name="uq_tracking_events_purchase_event"),
    )
    op.create_index(
        "ix_tracking_events_purchase_time", "tracking_events", ["purchase_id", "occurred_at"]
    )

    op.create_table(
        "tracking_poll_state",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        _timestamp("paused_until"),
        sa.Column("last_error", sa.Text()),
        _timestamp("last_failure_at"),
        _timestamp("last_success_at"),
        _timestamp("alerted_at"),
        sa.CheckConstraint("id = 1", name="ck_tracking_poll_state_single_row"),
        sa.PrimaryKeyConstraint("id", name="pk_tracking_poll_state"),
    )


def downgrade() -> None:
    op.drop_table("tracking_poll_state")
    op.drop_index("ix_tracking_events_purchase_time", table_name="tracking_events")
    op.drop_table("tracking_events")
    op.drop_index("ix_tracking_shipments_pollable", table_name="tracking_shipments")
    op.drop_table("tracking_shipments")

"""Service orders and the notification pipeline: categories (seeded), partner categories,
orders and their dispatch, notifications, device tokens and push attempts.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# (slug, pt-BR name, English name), in the order the apps list them.
CATEGORIES = [
    ("pintura", "Pintura", "Painting"),
    ("eletrica", "Elétrica", "Electrical work"),
    ("hidraulica", "Hidráulica", "Plumbing"),
    ("limpeza", "Limpeza", "Cleaning"),
    ("montagem-de-moveis", "Montagem de móveis", "Furniture assembly"),
    ("jardinagem", "Jardinagem", "Gardening"),
    ("reformas", "Reformas", "Renovation"),
    ("fretes", "Fretes e mudanças", "Moving and delivery"),
    ("marcenaria", "Marcenaria", "Carpentry"),
    ("ar-condicionado", "Ar-condicionado", "Air conditioning"),
    ("chaveiro", "Chaveiro", "Locksmith"),
    ("dedetizacao", "Dedetização", "Pest control"),
    ("informatica", "Informática", "Computer repair"),
    ("serralheria", "Serralheria", "Metalwork"),
    ("vidracaria", "Vidraçaria", "Glazing"),
]


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def upgrade() -> None:
    categories = op.create_table(
        "service_categories",
        sa.Column("slug", sa.String(50), nullable=False),
        sa.Column("name_pt_br", sa.String(100), nullable=False),
        sa.Column("name_en", sa.String(100), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.PrimaryKeyConstraint("slug", name="pk_service_categories"),
    )
    op.bulk_insert(
        categories,
        [
            {"slug": slug, "name_pt_br": name_pt_br, "name_en": name_en, "position": position}
            for position, (slug, name_pt_br, name_en) in enumerate(CATEGORIES, start=1)
        ],
    )

    op.create_table(
        "partner_categories",
        sa.Column("partner_id", sa.UUID(), nullable=False),
        sa.Column("category_slug", sa.String(50), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("partner_id", "category_slug", name="pk_partner_categories"),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["users.id"],
            name="fk_partner_categories_partner_id_users",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["category_slug"],
            ["service_categories.slug"],
            name="fk_partner_categories_category_slug_service_categories",
            ondelete="RESTRICT",
        ),
    )
    op.create_index("ix_partner_categories_category_slug", "partner_categories", ["category_slug"])

    op.create_table(
        "service_orders",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("client_id", sa.UUID(), nullable=False),
        sa.Column("partner_id", sa.UUID()),
        sa.Column("category_slug", sa.String(50), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("budget_cents", sa.Integer()),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("city_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("notified_partners", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True)),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True)),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("cancelled_at", sa.DateTime(timezone=True)),
        sa.Column("expired_at", sa.DateTime(timezone=True)),
        sa.Column("cancel_reason", sa.String(500)),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_service_orders"),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["users.id"],
            name="fk_service_orders_client_id_users",
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["users.id"],
            name="fk_service_orders_partner_id_users",
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["category_slug"],
            ["service_categories.slug"],
            name="fk_service_orders_category_slug_service_categories",
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name="fk_service_orders_city_id_cities", ondelete="RESTRICT"
        ),
        sa.CheckConstraint(
            "status IN ('open', 'accepted', 'in_progress', 'completed', 'cancelled', 'expired')",
            name="ck_service_orders_status",
        ),
        sa.CheckConstraint(
            "(status IN ('open', 'expired') AND partner_id IS NULL)"
            " OR (status IN ('accepted', 'in_progress', 'completed') AND partner_id IS NOT NULL)"
            " OR status = 'cancelled'",
            name="ck_service_orders_partner_matches_status",
        ),
        sa.CheckConstraint(
            "budget_cents IS NULL OR budget_cents > 0", name="ck_service_orders_budget_positive"
        ),
        sa.CheckConstraint(
            "lat BETWEEN -90 AND 90 AND lng BETWEEN -180 AND 180",
            name="ck_service_orders_coordinates",
        ),
        sa.CheckConstraint(
            "partner_id IS NULL OR partner_id <> client_id",
            name="ck_service_orders_partner_not_client",
        ),
    )
    op.create_index(
        "ix_service_orders_client_id_created_at",
        "service_orders",
        ["client_id", "created_at", "id"],
    )
    op.create_index(
        "ix_service_orders_partner_id_created_at",
        "service_orders",
        ["partner_id", "created_at", "id"],
    )
    op.create_index(
        "ix_service_orders_open_city",
        "service_orders",
        ["city_id", "category_slug", "created_at"],
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index(
        "ix_service_orders_open_expires_at",
        "service_orders",
        ["expires_at"],
        postgresql_where=sa.text("status = 'open'"),
    )

    op.create_table(
        "service_order_dispatches",
        sa.Column("service_order_id", sa.UUID(), nullable=False),
        sa.Column("partner_id", sa.UUID(), nullable=False),
        sa.Column(
            "notified_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint(
            "service_order_id", "partner_id", name="pk_service_order_dispatches"
        ),
        sa.ForeignKeyConstraint(
            ["service_order_id"],
            ["service_orders.id"],
            name="fk_service_order_dispatches_service_order_id_service_orders",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["users.id"],
            name="fk_service_order_dispatches_partner_id_users",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_service_order_dispatches_partner_id", "service_order_dispatches", ["partner_id"]
    )

    op.create_table(
        "notifications",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "data", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("read_at", sa.DateTime(timezone=True)),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_notifications_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index(
        "ix_notifications_user_id_created_at", "notifications", ["user_id", "created_at", "id"]
    )
    op.create_index(
        "ix_notifications_unread",
        "notifications",
        ["user_id"],
        postgresql_where=sa.text("read_at IS NULL"),
    )

    op.create_table(
        "device_tokens",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("token", sa.String(1024), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(timezone=True)),
        sa.Column("deactivation_reason", sa.String(32)),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_device_tokens"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_device_tokens_user_id_users", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("token", name="uq_device_tokens_token"),
        sa.CheckConstraint(
            "platform IN ('android', 'ios', 'web')", name="ck_device_tokens_platform"
        ),
    )
    op.create_index(
        "ix_device_tokens_user_id_active",
        "device_tokens",
        ["user_id"],
        postgresql_where=sa.text("deactivated_at IS NULL"),
    )

    op.create_table(
        "push_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("notification_id", sa.UUID(), nullable=False),
        sa.Column("device_token_id", sa.UUID(), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("attempt_number", sa.SmallInteger(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error_message", sa.String(500)),
        sa.Column("retry_after_seconds", sa.Float()),
        sa.Column("provider_message_id", sa.String(300)),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_push_attempts"),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name="fk_push_attempts_notification_id_notifications",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["device_token_id"],
            ["device_tokens.id"],
            name="fk_push_attempts_device_token_id_device_tokens",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "outcome IN ('delivered', 'token_unregistered', 'token_invalid', "
            "'payload_rejected', 'deferred', 'failed', 'retrying')",
            name="ck_push_attempts_outcome",
        ),
    )
    op.create_index(
        "ix_push_attempts_notification_id_device_token_id",
        "push_attempts",
        ["notification_id", "device_token_id"],
    )
    op.create_index("ix_push_attempts_device_token_id", "push_attempts", ["device_token_id"])


def downgrade() -> None:
    op.drop_table("push_attempts")
    op.drop_table("device_tokens")
    op.drop_table("notifications")
    op.drop_table("service_order_dispatches")
    op.drop_table("service_orders")
    op.drop_table("partner_categories")
    op.drop_table("service_categories")

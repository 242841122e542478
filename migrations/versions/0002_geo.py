"""Geo: states, cities (loaded from the shipped data) and user locations.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "states",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("uf", sa.String(2), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_states"),
        sa.UniqueConstraint("uf", name="uq_states_uf"),
    )
    op.create_table(
        "cities",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("state_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("uf", sa.String(2), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cities"),
        sa.ForeignKeyConstraint(["state_id"], ["states.id"], name="fk_cities_state_id_states"),
    )
    op.create_index("ix_cities_state_id", "cities", ["state_id"])

    op.create_table(
        "user_locations",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("city_id", sa.Integer(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exited_at", sa.DateTime(timezone=True)),
        sa.Column("last_lat", sa.Float(), nullable=False),
        sa.Column("last_lng", sa.Float(), nullable=False),
        sa.Column("last_accuracy_m", sa.Float()),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fix_count", sa.Integer(), server_default="1", nullable=False),
        sa.Column("pending_city_id", sa.Integer()),
        sa.Column("pending_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_user_locations"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_locations_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["city_id"], ["cities.id"], name="fk_user_locations_city_id_cities"
        ),
        sa.ForeignKeyConstraint(
            ["pending_city_id"], ["cities.id"], name="fk_user_locations_pending_city_id_cities"
        ),
        sa.CheckConstraint(
            "(is_current AND exited_at IS NULL) OR (NOT is_current AND exited_at IS NOT NULL)",
            name="ck_user_locations_current_has_no_exit",
        ),
    )
    op.create_index(
        "ix_user_locations_user_id_created_at", "user_locations", ["user_id", "created_at"]
    )
    op.create_index(
        "uq_user_locations_one_current",
        "user_locations",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("is_current"),
    )

    op.create_foreign_key(
        "fk_users_current_city_id_cities",
        "users",
        "cities",
        ["current_city_id"],
        ["id"],
        ondelete="SET NULL",
    )

    from taskgo.geo.loader import city_rows, state_rows, upsert_cities, upsert_states

    bind = op.get_bind()
    bind.execute(upsert_states(), state_rows())
    bind.execute(upsert_cities(), city_rows())


def downgrade() -> None:
    op.drop_constraint("fk_users_current_city_id_cities", "users", type_="foreignkey")
    op.drop_index("uq_user_locations_one_current", table_name="user_locations")
    op.drop_index("ix_user_locations_user_id_created_at", table_name="user_locations")
    op.drop_table("user_locations")
    op.drop_index("ix_cities_state_id", table_name="cities")
    op.drop_table("cities")
    op.drop_table("states")

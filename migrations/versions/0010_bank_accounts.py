"""Bank accounts: partner payout accounts with encrypted secrets and blind indexes.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bank_accounts",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("holder_name", sa.String(120), nullable=False),
        sa.Column("holder_document_type", sa.String(8), nullable=False),
        sa.Column("holder_document_encrypted", sa.Text(), nullable=False),
        sa.Column("bank_code", sa.String(3), nullable=False),
        sa.Column("bank_ispb", sa.String(8), nullable=False),
        sa.Column("agency", sa.String(4), nullable=False),
        sa.Column("agency_digit", sa.String(1)),
        sa.Column("account_encrypted", sa.Text(), nullable=False),
        sa.Column("account_type", sa.String(16), nullable=False),
        sa.Column("account_fingerprint", sa.String(128), nullable=False),
        sa.Column("pix_key_type", sa.String(8)),
        sa.Column("pix_key_encrypted", sa.Text()),
        sa.Column("pix_key_fingerprint", sa.String(128)),
        sa.Column("is_primary", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("review_status", sa.String(16), server_default="clear", nullable=False),
        sa.Column(
            "review_reasons",
            postgresql.ARRAY(sa.String(32)),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("reviewed_by", sa.UUID()),
        sa.Column("reviewed_at", sa.DateTime(timezone=True)),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "holder_document_type IN ('cpf', 'cnpj')",
            name="ck_bank_accounts_holder_document_type",
        ),
        sa.CheckConstraint(
            "account_type IN ('checking', 'savings', 'payment')",
            name="ck_bank_accounts_account_type",
        ),
        sa.CheckConstraint(
            "pix_key_type IS NULL OR pix_key_type IN ('cpf', 'cnpj', 'email', 'phone', 'random')",
            name="ck_bank_accounts_pix_key_type",
        ),
        sa.CheckConstraint(
            "(pix_key_type IS NULL) = (pix_key_encrypted IS NULL)"
            " AND (pix_key_type IS NULL) = (pix_key_fingerprint IS NULL)",
            name="ck_bank_accounts_pix_key_complete",
        ),
        sa.CheckConstraint(
            "review_status IN ('clear', 'pending_review', 'approved', 'rejected')",
            name="ck_bank_accounts_review_status",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_bank_accounts_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by"],
            ["users.id"],
            name="fk_bank_accounts_reviewed_by_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_bank_accounts"),
    )
    # At most one primary account per partner, whatever the order of concurrent writes.
    op.create_index(
        "uq_bank_accounts_one_primary",
        "bank_accounts",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("is_primary"),
    )
    op.create_index(
        "uq_bank_accounts_user_account",
        "bank_accounts",
        ["user_id", "account_fingerprint"],
        unique=True,
    )
    op.create_index(
        "uq_bank_accounts_user_pix_key",
        "bank_accounts",
        ["user_id", "pix_key_fingerprint"],
        unique=True,
        postgresql_where=sa.text("pix_key_fingerprint IS NOT NULL"),
    )
    op.create_index(
        "ix_bank_accounts_account_fingerprint", "bank_accounts", ["account_fingerprint"]
    )
    op.create_index(
        "ix_bank_accounts_pix_key_fingerprint",
        "bank_accounts",
        ["pix_key_fingerprint"],
        postgresql_where=sa.text("pix_key_fingerprint IS NOT NULL"),
    )
    op.create_index(
        "ix_bank_accounts_user_created", "bank_accounts", ["user_id", "created_at", "id"]
    )
    op.create_index(
        "ix_bank_accounts_pending_review",
        "bank_accounts",
        ["created_at", "id"],
        postgresql_where=sa.text("review_status = 'pending_review'"),
    )


def downgrade() -> None:
    op.drop_table("bank_accounts")

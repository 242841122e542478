"""Uploads and partner identity verification submissions.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _timestamp(name: str, *, default_now: bool = False, nullable: bool = True) -> sa.Column:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        server_default=sa.func.now() if default_now else None,
        nullable=nullable,
    )


def upgrade() -> None:
    # Check constraint names are the short form: Alembic applies the models' naming
    # convention, which prefixes them with `ck_<table>_`.
    op.create_table(
        "uploads",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("storage_key", sa.String(300), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("source_sha256", sa.String(64), nullable=False),
        sa.Column("source_format", sa.String(8), nullable=False),
        _timestamp("file_deleted_at"),
        _timestamp("created_at", default_now=True, nullable=False),
        _timestamp("updated_at", default_now=True, nullable=False),
        sa.CheckConstraint(
            "purpose IN ('product_image', 'avatar', 'document', 'selfie')",
            name="purpose",
        ),
        sa.CheckConstraint("size_bytes > 0", name="size_positive"),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name="fk_uploads_owner_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_uploads"),
        sa.UniqueConstraint("storage_key", name="uq_uploads_storage_key"),
    )
    op.create_index("ix_uploads_owner_id", "uploads", ["owner_id"])

    op.create_table(
        "verification_submissions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("document_front_id", sa.UUID(), nullable=False),
        sa.Column("document_back_id", sa.UUID(), nullable=False),
        sa.Column("selfie_id", sa.UUID(), nullable=False),
        sa.Column("image_hashes", postgresql.JSONB(), nullable=False),
        sa.Column("analysis_status", sa.String(16), nullable=False),
        _timestamp("analysed_at"),
        sa.Column("analysis", postgresql.JSONB(), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("extracted_name", sa.String(200)),
        sa.Column("extracted_birth_date", sa.Date()),
        sa.Column("extracted_cpf_encrypted", sa.Text()),
        sa.Column("cpf_fingerprint", sa.String(64)),
        sa.Column("decided_by_id", sa.UUID()),
        _timestamp("decided_at"),
        sa.Column("rejection_reason", sa.Text()),
        _timestamp("images_deleted_at"),
        _timestamp("created_at", default_now=True, nullable=False),
        _timestamp("updated_at", default_now=True, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected')",
            name="status",
        ),
        sa.CheckConstraint(
            "analysis_status IN ('queued', 'done', 'failed')",
            name="analysis_status",
        ),
        sa.CheckConstraint(
            "(status = 'pending') = (decided_at IS NULL)",
            name="decided_when_not_pending",
        ),
        sa.CheckConstraint(
            "status <> 'rejected' OR rejection_reason IS NOT NULL",
            name="rejection_has_reason",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_verification_submissions_user_id_users",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name="fk_verification_submissions_decided_by_id_users",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["document_front_id"],
            ["uploads.id"],
            name="fk_verification_submissions_document_front_id_uploads",
        ),
        sa.ForeignKeyConstraint(
            ["document_back_id"],
            ["uploads.id"],
            name="fk_verification_submissions_document_back_id_uploads",
        ),
        sa.ForeignKeyConstraint(
            ["selfie_id"], ["uploads.id"], name="fk_verification_submissions_selfie_id_uploads"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_verification_submissions"),
    )
    op.create_index("ix_verification_submissions_user_id", "verification_submissions", ["user_id"])
    op.create_index(
        "ix_verification_submissions_cpf_fingerprint",
        "verification_submissions",
        ["cpf_fingerprint"],
    )
    op.create_index(
        "ix_verification_submissions_queue", "verification_submissions", ["status", "created_at"]
    )
    op.create_index(
        "uq_verification_submissions_one_pending",
        "verification_submissions",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_table("verification_submissions")
    op.drop_table("uploads")

"""Support: conversations with the assistant and their messages.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
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
    op.create_table(
        "support_conversations",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("needs_human", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("flag_reason", sa.String(40)),
        sa.Column("flag_detail", sa.String(40)),
        _timestamp("flagged_at"),
        _timestamp("last_message_at"),
        _timestamp("created_at", default_now=True, nullable=False),
        _timestamp("updated_at", default_now=True, nullable=False),
        sa.CheckConstraint(
            "flag_reason IS NULL OR flag_reason IN ('provider_failure', 'human_requested')",
            name="ck_support_conversations_flag_reason",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_support_conversations_user_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_support_conversations"),
    )
    op.create_index(
        "ix_support_conversations_user_id_created_at",
        "support_conversations",
        ["user_id", "created_at"],
    )
    op.create_index(
        "ix_support_conversations_flagged_at",
        "support_conversations",
        ["flagged_at"],
        postgresql_where=sa.text("needs_human"),
    )

    op.create_table(
        "support_messages",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("conversation_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("author_id", sa.UUID()),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("truncated", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "redactions",
            postgresql.JSONB(),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("client_message_id", sa.String(100)),
        sa.Column("provider", sa.String(20)),
        sa.Column("model", sa.String(100)),
        sa.Column("prompt_tokens", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "tools_called",
            postgresql.JSONB(),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("error_kind", sa.String(40)),
        _timestamp("created_at", default_now=True, nullable=False),
        sa.CheckConstraint(
            "role IN ('user', 'assistant', 'agent')", name="ck_support_messages_role"
        ),
        sa.CheckConstraint(
            "prompt_tokens >= 0 AND completion_tokens >= 0", name="ck_support_messages_tokens"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["support_conversations.id"],
            name="fk_support_messages_conversation_id_support_conversations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_support_messages_user_id_users",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name="fk_support_messages_author_id_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_support_messages"),
        sa.UniqueConstraint(
            "conversation_id",
            "client_message_id",
            name="uq_support_messages_conversation_id_client_message_id",
        ),
    )
    op.create_index(
        "ix_support_messages_conversation_id_created_at",
        "support_messages",
        ["conversation_id", "created_at", "id"],
    )
    op.create_index(
        "ix_support_messages_user_id_created_at",
        "support_messages",
        ["user_id", "created_at"],
    )


def downgrade() -> None:
    op.drop_table("support_messages")
    op.drop_table("support_conversations")

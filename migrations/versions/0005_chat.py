"""Chat: conversations, their participants and messages.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
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
        "conversations",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("purchase_id", sa.UUID()),
        _timestamp("last_message_at"),
        _timestamp("created_at", default_now=True, nullable=False),
        _timestamp("updated_at", default_now=True, nullable=False),
        sa.CheckConstraint("type IN ('order_chat')", name="ck_conversations_type"),
        sa.CheckConstraint(
            "type <> 'order_chat' OR purchase_id IS NOT NULL",
            name="ck_conversations_order_chat_has_purchase",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_conversations"),
        sa.UniqueConstraint("purchase_id", name="uq_conversations_purchase_id"),
    )

    op.create_table(
        "messages",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("conversation_id", sa.UUID(), nullable=False),
        sa.Column("sender_id", sa.UUID(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("client_message_id", sa.String(64), nullable=False),
        _timestamp("created_at", nullable=False),
        sa.CheckConstraint("char_length(body) BETWEEN 1 AND 4000", name="ck_messages_body_length"),
        sa.CheckConstraint(
            "char_length(client_message_id) BETWEEN 1 AND 64", name="ck_messages_client_id"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_messages_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["users.id"],
            name="fk_messages_sender_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.UniqueConstraint(
            "conversation_id",
            "sender_id",
            "client_message_id",
            name="uq_messages_client_message_id",
        ),
    )
    op.create_index(
        "ix_messages_conversation_created", "messages", ["conversation_id", "created_at", "id"]
    )
    op.create_index("ix_messages_sender_id", "messages", ["sender_id"])

    op.create_table(
        "conversation_participants",
        sa.Column("conversation_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("last_read_message_id", sa.UUID()),
        _timestamp("last_read_at"),
        sa.CheckConstraint("role IN ('buyer', 'seller')", name="ck_conversation_participants_role"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_conversation_participants_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_conversation_participants_user_id_users",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["last_read_message_id"],
            ["messages.id"],
            name="fk_conversation_participants_last_read_message_id_messages",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "user_id", name="pk_conversation_participants"),
        sa.UniqueConstraint("conversation_id", "role", name="uq_conversation_participants_role"),
    )
    op.create_index(
        "ix_conversation_participants_user_id", "conversation_participants", ["user_id"]
    )


def downgrade() -> None:
    op.drop_table("conversation_participants")
    op.drop_table("messages")
    op.drop_table("conversations")

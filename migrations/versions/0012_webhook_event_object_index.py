"""Index handled webhook events by the provider object they were about.

Dispute handling asks whether a `charge.dispute.closed` event for a given dispute was
already handled, because the provider may deliver a dispute's events in any order. The
events table grows with every webhook, so that lookup needs an index on the object id.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_payment_webhook_events_object",
        "payment_webhook_events",
        ["object_id", "event_type"],
    )


def downgrade() -> None:
    op.drop_index("ix_payment_webhook_events_object", table_name="payment_webhook_events")

"""Tracking tables: one shipment per shipped purchase, its carrier events, the poller state."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from taskgo.db.base import Base, Timestamps, UUIDPrimaryKey
from taskgo.tracking.statuses import TrackingStatus

_STATUS_LIST = ", ".join(f"'{status.value}'" for status in TrackingStatus)


class TrackingShipment(UUIDPrimaryKey, Timestamps, Base):
    """Parcel of one purchase as the carrier reports it, with the state of its polling."""

    __tablename__ = "tracking_shipments"
    __table_args__ = (
        CheckConstraint(f"status IS NULL OR status IN ({_STATUS_LIST})", name="status"),
        CheckConstraint("provider IN ('correios', 'manual')", name="provider"),
        # The poller scans unfinished shipments in order of their last poll.
        Index(
            "ix_tracking_shipments_pollable",
            "last_polled_at",
            postgresql_where=text("finished_at IS NULL"),
        ),
    )

    purchase_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("purchases.id", ondelete="CASCADE"), unique=True
    )
    tracking_code: Mapped[str] = mapped_column(String(13))
    provider: Mapped[str] = mapped_column(String(16))
    # Status of the latest event by carrier time; NULL until the carrier reports one.
    status: Mapped[str | None] = mapped_column(String(24))
    last_event_at: Mapped[datetime | None] = mapped_column()
    last_polled_at: Mapped[datetime | None] = mapped_column()
    # Set when the carrier reported a final status (delivered or returned): polling stops.
    finished_at: Mapped[datetime | None] = mapped_column()
    # First poll at which SRO reported the object as unknown, reset once it is found.
    not_found_since: Mapped[datetime | None] = mapped_column()
    not_found_warned_at: Mapped[datetime | None] = mapped_column()
    last_carrier_message: Mapped[str | None] = mapped_column(String(300))


class TrackingEvent(UUIDPrimaryKey, Base):
    """One carrier event of a purchase's shipment; stored once per purchase and event key."""

    __tablename__ = "tracking_events"
    __table_args__ = (
        UniqueConstraint("purchase_id", "event_key", name="uq_tracking_events_purchase_event"),
        CheckConstraint(f"status IN ({_STATUS_LIST})", name="status"),
        CheckConstraint("source IN ('correios', 'manual')", name="source"),
        Index("ix_tracking_events_purchase_time", "purchase_id", "occurred_at"),
    )

    purchase_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("purchases.id", ondelete="CASCADE"))
    tracking_code: Mapped[str] = mapped_column(String(13))
    # Carrier code plus the local time SRO printed (`BDE-01@20260304T144030`), which stays
    # the same across polls, or a random key for manual events.
    event_key: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(24))
    carrier_code: Mapped[str | None] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(200))
    occurred_at: Mapped[datetime] = mapped_column()
    source: Mapped[str] = mapped_column(String(16))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class TrackingPollState(Base):
    """Single row with the poller's failure streak, pause and alert state."""

    __tablename__ = "tracking_poll_state"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, default=1)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    paused_until: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    last_failure_at: Mapped[datetime | None] = mapped_column()
    last_success_at: Mapped[datetime | None] = mapped_column()
    alerted_at: Mapped[datetime | None] = mapped_column()

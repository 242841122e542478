"""Service categories, the categories partners serve, service orders and their dispatch."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

# Registers the `cities` table, which `service_orders.city_id` references, in processes
# that never import the geo domain's models otherwise (the API server, the worker).
import taskgo.geo.models  # noqa: F401
from taskgo.db.base import Base, Timestamps, UUIDPrimaryKey


class OrderStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


# A partner is assigned from acceptance on; an order that no partner took has none.
ASSIGNED_STATUSES = (OrderStatus.ACCEPTED, OrderStatus.IN_PROGRESS, OrderStatus.COMPLETED)
CANCELLABLE_STATUSES = (OrderStatus.OPEN, OrderStatus.ACCEPTED, OrderStatus.IN_PROGRESS)


class ServiceCategory(Base):
    """A kind of service (`pintura`), named in each supported language; seeded by migration."""

    __tablename__ = "service_categories"

    slug: Mapped[str] = mapped_column(String(50), primary_key=True)
    name_pt_br: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(SmallInteger)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class PartnerCategory(Base):
    __tablename__ = "partner_categories"

    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    category_slug: Mapped[str] = mapped_column(
        ForeignKey("service_categories.slug", ondelete="RESTRICT"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ServiceOrder(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "service_orders"
    # Timestamps come back with the INSERT/UPDATE, so responses never lazy-load them.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012
    __table_args__ = (
        CheckConstraint(
            "status IN ('open', 'accepted', 'in_progress', 'completed', 'cancelled', 'expired')",
            name="status",
        ),
        CheckConstraint(
            "(status IN ('open', 'expired') AND partner_id IS NULL)"
            " OR (status IN ('accepted', 'in_progress', 'completed') AND partner_id IS NOT NULL)"
            " OR status = 'cancelled'",
            name="partner_matches_status",
        ),
        CheckConstraint("budget_cents IS NULL OR budget_cents > 0", name="budget_positive"),
        CheckConstraint("lat BETWEEN -90 AND 90 AND lng BETWEEN -180 AND 180", name="coordinates"),
        CheckConstraint("partner_id IS NULL OR partner_id <> client_id", name="partner_not_client"),
        Index("ix_service_orders_client_id_created_at", "client_id", "created_at", "id"),
        Index("ix_service_orders_partner_id_created_at", "partner_id", "created_at", "id"),
        Index(
            "ix_service_orders_open_city",
            "city_id",
            "category_slug",
            "created_at",
            postgresql_where=text("status = 'open'"),
        ),
        Index(
            "ix_service_orders_open_expires_at",
            "expires_at",
            postgresql_where=text("status = 'open'"),
        ),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    partner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT")
    )
    category_slug: Mapped[str] = mapped_column(
        ForeignKey("service_categories.slug", ondelete="RESTRICT")
    )
    description: Mapped[str] = mapped_column(Text)
    budget_cents: Mapped[int | None] = mapped_column(Integer)
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    city_id: Mapped[int] = mapped_column(Integer, ForeignKey("cities.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.OPEN)
    # Partners matched when the order was committed, as reported by the create response.
    notified_partners: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    dispatched_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()
    cancelled_at: Mapped[datetime | None] = mapped_column()
    expired_at: Mapped[datetime | None] = mapped_column()
    cancel_reason: Mapped[str | None] = mapped_column(String(500))


class ServiceOrderDispatch(Base):
    """A partner notified of an order, who therefore also gets its taken or closed event."""

    __tablename__ = "service_order_dispatches"

    service_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("service_orders.id", ondelete="CASCADE"), primary_key=True
    )
    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    notified_at: Mapped[datetime] = mapped_column(server_default=func.now())

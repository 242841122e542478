"""One row per stay of a user in a municipality; at most one current row per user."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, text
from sqlalchemy.orm import Mapped, mapped_column

from taskgo.db.base import Base, Timestamps, UUIDPrimaryKey


class UserLocation(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "user_locations"
    __table_args__ = (
        CheckConstraint(
            "(is_current AND exited_at IS NULL) OR (NOT is_current AND exited_at IS NOT NULL)",
            name="current_has_no_exit",
        ),
        Index("ix_user_locations_user_id_created_at", "user_id", "created_at"),
        # Enforced by the database so that two concurrent fixes cannot both open a stay.
        Index(
            "uq_user_locations_one_current",
            "user_id",
            unique=True,
            postgresql_where=text("is_current"),
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    city_id: Mapped[int] = mapped_column(Integer, ForeignKey("cities.id"))
    is_current: Mapped[bool] = mapped_column(Boolean)
    entered_at: Mapped[datetime] = mapped_column()
    exited_at: Mapped[datetime | None] = mapped_column()
    # The latest fix of this stay; a ping in the same city updates these, not a new row.
    last_lat: Mapped[float] = mapped_column(Float)
    last_lng: Mapped[float] = mapped_column(Float)
    last_accuracy_m: Mapped[float | None] = mapped_column(Float)
    last_seen_at: Mapped[datetime] = mapped_column()
    fix_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Anti-flapping state: consecutive fixes that resolved to another city, not yet a switch.
    pending_city_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("cities.id"))
    pending_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

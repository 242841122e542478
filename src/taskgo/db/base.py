"""Declarative base with a constraint naming convention and the common column mixins."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads this class attribute)
        datetime: DateTime(timezone=True),
        uuid.UUID: UUID(as_uuid=True),
    }


class UUIDPrimaryKey:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Timestamps:
    # SQL now() is fixed for the whole transaction, so the Python default is what gives rows
    # written in one transaction distinct, ordered times. The server default covers raw SQL.
    created_at: Mapped[datetime] = mapped_column(default=utc_now, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        default=utc_now, server_default=func.now(), onupdate=utc_now
    )


def import_all_models() -> None:
    """Import every domain's models so `Base.metadata` contains all tables."""
    import taskgo.idempotency  # noqa: F401  (shared table)
    from taskgo.app import DOMAINS
    from taskgo.modules import optional_module

    for domain in DOMAINS:
        optional_module(f"taskgo.{domain}.models")

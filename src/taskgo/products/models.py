"""Products: listed in the city where the seller was when creating them."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column, relationship

from taskgo.db.base import Base, Timestamps, UUIDPrimaryKey
from taskgo.money import MAX_PRICE_CENTAVOS


class ProductStatus(StrEnum):
    ACTIVE = "active"
    DRAFT = "draft"
    DELETED = "deleted"


MAX_IMAGES_PER_PRODUCT = 8


class Product(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint(
            f"price_cents > 0 AND price_cents <= {MAX_PRICE_CENTAVOS}", name="price_range"
        ),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("status IN ('active', 'draft', 'deleted')", name="status"),
        # The city listing: active products of one city, newest first.
        Index(
            "ix_products_city_listing",
            "created_in_city_id",
            text("created_at DESC"),
            text("id DESC"),
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_products_search_document", "search_document", postgresql_using="gin"),
    )

    seller_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    price_cents: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(50), index=True)
    stock: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=ProductStatus.ACTIVE)
    created_in_city_id: Mapped[int] = mapped_column(ForeignKey("cities.id", ondelete="RESTRICT"))
    # Portuguese full-text document of the accent-free title and description.
    search_document: Mapped[str | None] = mapped_column(TSVECTOR)
    deleted_at: Mapped[datetime | None] = mapped_column()

    images: Mapped[list[ProductImage]] = relationship(
        back_populates="product", order_by="ProductImage.position", lazy="raise"
    )


class ProductImage(UUIDPrimaryKey, Base):
    __tablename__ = "product_images"
    __table_args__ = (
        CheckConstraint("position >= 0 AND position < 8", name="position_range"),
        UniqueConstraint("product_id", "position"),
    )

    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(SmallInteger)
    storage_key: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(50))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))

    product: Mapped[Product] = relationship(back_populates="images", lazy="raise")

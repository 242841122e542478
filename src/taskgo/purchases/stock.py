"""Stock reservation for purchases: one conditional UPDATE per product line.

`stock >= quantity` in the UPDATE's WHERE clause is checked against the row version the
UPDATE locks, so two buyers racing for the last unit cannot both succeed: the second
UPDATE waits for the first to commit, re-checks, and matches no row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.errors import AppError
from taskgo.products.models import Product, ProductStatus
from taskgo.purchases.models import PurchaseItem

log = structlog.get_logger(__name__)


async def reserve(session: AsyncSession, *, lines: Iterable[tuple[uuid.UUID, int, int]]) -> None:
    """Take `quantity` units of each `(product_id, quantity, unit_price_cents)` line.

    Lines are taken in product id order, so concurrent multi-item purchases lock rows in
    the same order and cannot deadlock. Raises 409 `purchase.out_of_stock` or
    `purchase.price_changed`; the caller's transaction then rolls back every line.
    """
    for product_id, quantity, price in sorted(lines):
        taken = await session.scalar(
            update(Product)
            .where(
                Product.id == product_id,
                Product.status == ProductStatus.ACTIVE.value,
                Product.stock >= quantity,
                Product.price_cents == price,
            )
            .values(stock=Product.stock - quantity, updated_at=func.now())
            .returning(Product.id)
        )
        if taken is not None:
            continue
        current = (
            await session.execute(
                select(Product.stock, Product.price_cents, Product.status).where(
                    Product.id == product_id
                )
            )
        ).one_or_none()
        if (
            current is not None
            and current.status == ProductStatus.ACTIVE
            and current.price_cents != price
        ):
            raise AppError(
                "purchase.price_changed",
                status=409,
                field="items",
                details={"productId": str(product_id)},
            )
        available = current.stock if current is not None and current.status == "active" else 0
        log.info(
            "purchase.stock_short",
            product_id=str(product_id),
            requested=quantity,
            available=available,
        )
        raise AppError(
            "purchase.out_of_stock",
            status=409,
            field="items",
            details={"productId": str(product_id), "available": available},
            available=available,
        )


async def restore(session: AsyncSession, *, items: Iterable[PurchaseItem]) -> None:
    """Give the units of `items` back to their products (also to drafts, not to deleted ones)."""
    for item in sorted(items, key=lambda i: i.product_id):
        await session.execute(
            update(Product)
            .where(Product.id == item.product_id, Product.status != ProductStatus.DELETED.value)
            .values(stock=Product.stock + item.quantity, updated_at=func.now())
        )

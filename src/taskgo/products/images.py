"""Product photos: validated and re-encoded by the uploads layer, at most 8 per product."""

from __future__ import annotations

import uuid

import anyio
import structlog
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.db.session import after_commit, after_rollback
from taskgo.errors import AppError
from taskgo.products.models import MAX_IMAGES_PER_PRODUCT, Product, ProductImage, ProductStatus
from taskgo.products.service import get_product_row
from taskgo.uploads.images import process_image
from taskgo.uploads.service import get_storage
from taskgo.uploads.storage import Storage
from taskgo.users.models import User

log = structlog.get_logger(__name__)


def product_storage() -> Storage:
    """Return the uploads layer's storage, so product photos follow STORAGE_URL too."""
    return get_storage()


def image_url(product_id: uuid.UUID, image_id: uuid.UUID) -> str:
    return f"/api/products/{product_id}/images/{image_id}"


async def add_image(
    session: AsyncSession, *, product_id: uuid.UUID, user: User, data: bytes
) -> Product:
    # Lock the product so two uploads at once cannot both take the eighth place.
    product = await session.scalar(
        select(Product).where(Product.id == product_id).with_for_update()
    )
    if product is None or product.status == ProductStatus.DELETED:
        raise AppError("product.not_found", status=404)
    if product.seller_id != user.id:
        if product.status == ProductStatus.DRAFT:
            raise AppError("product.not_found", status=404)
        raise AppError("product.not_owner", status=403)

    count = await session.scalar(
        select(func.count()).select_from(ProductImage).where(ProductImage.product_id == product_id)
    )
    if (count or 0) >= MAX_IMAGES_PER_PRODUCT:
        raise AppError(
            "product.too_many_images", status=422, field="file", maximum=MAX_IMAGES_PER_PRODUCT
        )
    used = set(
        (
            await session.scalars(
                select(ProductImage.position).where(ProductImage.product_id == product_id)
            )
        ).all()
    )
    position = min(set(range(MAX_IMAGES_PER_PRODUCT)) - used)

    processed = await anyio.to_thread.run_sync(process_image, data)
    image_id = uuid.uuid4()
    key = f"products/{product_id}/{image_id}.{processed.extension}"
    storage = product_storage()
    await storage.put(key, processed.data, content_type=processed.content_type)

    async def remove_orphan() -> None:
        await storage.delete(key)

    # The file is reachable only through its row: if the transaction does not commit, it goes.
    after_rollback(session, remove_orphan)
    session.add(
        ProductImage(
            id=image_id,
            product_id=product_id,
            position=position,
            storage_key=key,
            content_type=processed.content_type,
            width=processed.width,
            height=processed.height,
            sha256=processed.sha256,
        )
    )
    await session.flush()
    log.info("product.image_added", product_id=str(product_id), image_id=str(image_id))
    return await get_product_row(session, product_id)


async def remove_image(
    session: AsyncSession, *, product_id: uuid.UUID, image_id: uuid.UUID, user: User
) -> None:
    image = await session.scalar(
        select(ProductImage)
        .join(Product, Product.id == ProductImage.product_id)
        .where(ProductImage.id == image_id, Product.id == product_id, Product.seller_id == user.id)
    )
    if image is None:
        raise AppError("product.image_not_found", status=404)
    await session.delete(image)
    await session.flush()
    key = image.storage_key

    async def delete_file() -> None:
        await product_storage().delete(key)

    # Deleted only once the row is gone for good: a rollback after an early delete left a
    # row whose file no longer existed.
    after_commit(session, delete_file)


async def read_image(
    session: AsyncSession, *, product_id: uuid.UUID, image_id: uuid.UUID, viewer: User | None
) -> tuple[bytes, str, bool]:
    """Return the bytes, content type and public flag of a product photo, or raise 404.

    Photos of an active product are public. A draft's photos are served only to its
    seller, and a deleted product's photos are not served.
    """
    visible = Product.status == ProductStatus.ACTIVE
    if viewer is not None:
        visible = or_(
            visible,
            and_(Product.status == ProductStatus.DRAFT, Product.seller_id == viewer.id),
        )
    row = (
        await session.execute(
            select(ProductImage.storage_key, ProductImage.content_type, Product.status)
            .join(Product, Product.id == ProductImage.product_id)
            .where(ProductImage.id == image_id, Product.id == product_id, visible)
        )
    ).first()
    if row is None:
        raise AppError("product.image_not_found", status=404)
    data = await product_storage().get(row.storage_key)
    return data, row.content_type, row.status == ProductStatus.ACTIVE

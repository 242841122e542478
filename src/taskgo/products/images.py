"""Product photos: validated and re-encoded by the uploads layer, at most 8 per product.

The files of a soft-deleted product are deleted by a job (`DELETE_FILES_TASK`), because
nothing serves them any more: `read_image` returns 404 for a deleted product, and a
purchase item copies the title and price but shows no photo.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import structlog
from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.db.session import after_commit, after_rollback
from taskgo.errors import AppError
from taskgo.jobs import enqueue
from taskgo.products.models import MAX_IMAGES_PER_PRODUCT, Product, ProductImage, ProductStatus
from taskgo.products.service import get_product_row
from taskgo.uploads.images import ProcessedImage
from taskgo.uploads.service import get_storage, storage_unavailable
from taskgo.uploads.storage import Storage, StorageError, StorageObjectNotFound
from taskgo.users.models import User

log = structlog.get_logger(__name__)

DELETE_FILES_TASK = "products.delete_image_files"


def product_storage() -> Storage:
    """Return the uploads layer's storage, so product photos follow STORAGE_URL too."""
    return get_storage()


def image_url(product_id: uuid.UUID, image_id: uuid.UUID) -> str:
    return f"/api/products/{product_id}/images/{image_id}"


async def check_image_target(
    session: AsyncSession, *, product_id: uuid.UUID, user: User, lock: bool = False
) -> None:
    """Raise unless ``user`` may add a photo to the product: 404 if it is deleted, or a
    draft of someone else, and 403 if it is someone else's active product."""
    query = select(Product).where(Product.id == product_id)
    product = await session.scalar(query.with_for_update() if lock else query)
    if product is None or product.status == ProductStatus.DELETED:
        raise AppError("product.not_found", status=404)
    if product.seller_id != user.id:
        if product.status == ProductStatus.DRAFT:
            raise AppError("product.not_found", status=404)
        raise AppError("product.not_owner", status=403)


async def add_image(
    session: AsyncSession, *, product_id: uuid.UUID, user: User, image: ProcessedImage
) -> Product:
    """Store a photo prepared by `taskgo.uploads.service.prepare_image` and add its row.

    The image is processed before this is called, so the product's row lock and the
    session's connection are not held while an image is decoded.
    """
    # Lock the product so two uploads at once cannot both take the eighth place.
    await check_image_target(session, product_id=product_id, user=user, lock=True)
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

    processed = image
    image_id = uuid.uuid4()
    key = f"products/{product_id}/{image_id}.{processed.extension}"
    storage = product_storage()
    try:
        await storage.put(key, processed.data, content_type=processed.content_type)
    except (StorageError, OSError) as exc:
        log.error("product.image_store_failed", product_id=str(product_id), error=repr(exc))
        raise storage_unavailable() from exc

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
    # A deleted product's photos belong to the cleanup job. The row lock makes a removal
    # that comes while the job holds the rows wait, then find nothing, instead of
    # deleting a row the job has already deleted.
    image = await session.scalar(
        select(ProductImage)
        .join(Product, Product.id == ProductImage.product_id)
        .where(
            ProductImage.id == image_id,
            Product.id == product_id,
            Product.seller_id == user.id,
            Product.status != ProductStatus.DELETED,
        )
        .with_for_update(of=ProductImage)
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
    try:
        data = await product_storage().get(row.storage_key)
    except StorageObjectNotFound as exc:
        # The row was read just before a removal or the cleanup job deleted the file.
        log.warning("product.image_file_missing", image_id=str(image_id), key=row.storage_key)
        raise AppError("product.image_not_found", status=404) from exc
    except (StorageError, OSError) as exc:
        log.error("product.image_read_failed", image_id=str(image_id), error=repr(exc))
        raise storage_unavailable() from exc
    return data, row.content_type, row.status == ProductStatus.ACTIVE


@dataclass
class FileDeletion:
    """Outcome of deleting a deleted product's photo files."""

    deleted: int = 0
    failed: int = 0


async def schedule_file_deletion(session: AsyncSession, *, product_id: uuid.UUID) -> None:
    """Queue the deletion of a soft-deleted product's photo files.

    The job row is written in the caller's transaction, so no file goes before the
    product's deletion commits, and the request does not wait for storage.
    """
    await enqueue(session, DELETE_FILES_TASK, product_id=str(product_id))


async def delete_files_of_deleted_product(
    session: AsyncSession, *, product_id: uuid.UUID
) -> FileDeletion:
    """Delete the photo files of a soft-deleted product, then their rows.

    Each row goes only after its file, so a file that storage fails to delete keeps its
    row and a later run tries again. When the rows' removal does not commit, the next run
    deletes the same keys again, which both backends accept. A product that is not
    deleted keeps its photos.
    """
    status = await session.scalar(select(Product.status).where(Product.id == product_id))
    if status != ProductStatus.DELETED:
        return FileDeletion()

    # Locked, so a job and the periodic sweep never work on the same rows at once.
    photos = (
        await session.execute(
            select(ProductImage.id, ProductImage.storage_key)
            .where(ProductImage.product_id == product_id)
            .order_by(ProductImage.position)
            .with_for_update()
        )
    ).all()
    storage = product_storage()
    result = FileDeletion()
    deleted_ids: list[uuid.UUID] = []
    for photo in photos:
        try:
            await storage.delete(photo.storage_key)
        except (StorageError, OSError) as exc:
            result.failed += 1
            log.warning(
                "product.image_file_delete_failed",
                product_id=str(product_id),
                image_id=str(photo.id),
                error=str(exc),
            )
            continue
        deleted_ids.append(photo.id)

    if deleted_ids:
        await session.execute(delete(ProductImage).where(ProductImage.id.in_(deleted_ids)))
    result.deleted = len(deleted_ids)
    log.info(
        "product.image_files_deleted",
        product_id=str(product_id),
        deleted=result.deleted,
        failed=result.failed,
    )
    return result


async def deleted_products_with_files(
    session: AsyncSession, *, limit: int, rotation: int = 0
) -> list[uuid.UUID]:
    """Return deleted products that still have photo rows, earliest deletion first.

    These are products whose job ran out of retries, and products deleted by a release
    whose DELETE queued no job. With ``rotation`` the list starts that many products
    further on (modulo their number) and wraps around, so that products whose files keep
    failing cannot hold the first places of every sweep.
    """
    has_photos = select(ProductImage.id).where(ProductImage.product_id == Product.id).exists()
    due = select(Product.id).where(Product.status == ProductStatus.DELETED, has_photos)
    total = await session.scalar(select(func.count()).select_from(due.subquery()))
    if not total:
        return []

    start = rotation % total
    ordered = due.order_by(Product.deleted_at, Product.id)
    tail = list((await session.scalars(ordered.offset(start).limit(limit))).all())
    room = min(limit - len(tail), start)
    if room <= 0:
        return tail
    head = list((await session.scalars(ordered.limit(room))).all())
    return tail + head

"""Product jobs: deleting the photo files of soft-deleted products.

The DELETE request queues one job per product. A periodic sweep catches the products
whose job ran out of retries, for example during a long storage outage.
"""

from __future__ import annotations

import uuid

import procrastinate
import structlog

from taskgo.db.session import session_scope
from taskgo.jobs import app
from taskgo.products import images

log = structlog.get_logger(__name__)

SWEEP_TASK = "products.sweep_deleted_image_files"
# Deleted products handled per sweep. The sweep runs hourly, so a backlog drains over a
# few runs.
SWEEP_BATCH_SIZE = 200
# Products in a row whose every file delete failed before a sweep stops. A file that fails
# alone (a folder whose permissions changed, say) must not stop the products after it.
SWEEP_STOP_AFTER_FAILED_PRODUCTS = 3

# Waits of 4, 16, 64, ... 16384 seconds: the last attempt comes about six hours after the
# first, and the hourly sweep takes over after that.
_RETRY = procrastinate.RetryStrategy(max_attempts=8, exponential_wait=4)


class ImageFilesNotDeleted(Exception):
    """Storage failed to delete some files. The job raises it so that procrastinate retries."""


@app.task(name=images.DELETE_FILES_TASK, queue="default", retry=_RETRY)
async def delete_image_files(product_id: str) -> int:
    """Delete the photo files of one soft-deleted product and return how many were deleted."""
    async with session_scope() as session:
        result = await images.delete_files_of_deleted_product(
            session, product_id=uuid.UUID(product_id)
        )
    # Raised after the commit, so the rows of the files already deleted stay deleted.
    if result.failed:
        raise ImageFilesNotDeleted(
            f"storage failed to delete {result.failed} photo files of product {product_id}"
        )
    return result.deleted


@app.periodic(cron="41 * * * *")
@app.task(name=SWEEP_TASK, queue="default", lock=SWEEP_TASK, queueing_lock=SWEEP_TASK)
async def sweep_deleted_image_files(timestamp: int) -> None:
    """Delete the photo files left by deleted products (hourly)."""
    # Each hourly run starts one product further on, so that products whose files storage
    # keeps refusing to delete cannot stop every run before it reaches the others.
    async with session_scope() as session:
        product_ids = await images.deleted_products_with_files(
            session, limit=SWEEP_BATCH_SIZE, rotation=timestamp // 3600
        )

    deleted = failed = handled = failed_in_row = 0
    for product_id in product_ids:
        async with session_scope() as session:
            result = await images.delete_files_of_deleted_product(session, product_id=product_id)
        handled += 1
        deleted += result.deleted
        failed += result.failed
        if result.failed and not result.deleted:
            failed_in_row += 1
        else:
            failed_in_row = 0
        if failed_in_row >= SWEEP_STOP_AFTER_FAILED_PRODUCTS:
            # Every delete of several products in a row failed, so storage is probably down. S3
            # calls may wait out their timeouts, so the next run tries again instead.
            log.warning("products.image_sweep_stopped", product_id=str(product_id))
            break
    log.info(
        "products.image_sweep_done",
        due=len(product_ids),
        products=handled,
        deleted=deleted,
        failed=failed,
    )

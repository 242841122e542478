"""Photo files of soft-deleted products: deleted by a job after the commit, on both backends."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog.testing
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.db.session import session_scope
from taskgo.jobs import TASK_MODULES
from taskgo.jobs.inline import run_queued_jobs
from taskgo.products import images, service
from taskgo.products import tasks as product_tasks
from taskgo.products.models import Product, ProductImage, ProductStatus
from taskgo.uploads.service import configure_storage, get_storage
from taskgo.uploads.storage import LocalStorage, Storage, storage_from_url
from taskgo.users.models import User
from tests.products.conftest import create_product
from tests.products.test_images import png_bytes, upload
from tests.uploads.s3_standin import S3StandIn, running_s3_standin


@dataclass
class Backend:
    """A storage backend for one test, and a second one of the same kind that fails."""

    name: str
    storage: Storage
    broken: Storage

    async def has(self, key: str) -> bool:
        return await self.storage.exists(key)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3StandIn]:
    with running_s3_standin() as standin:
        yield standin


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    previous = get_storage()
    if request.param == "local":
        # A root that is a regular file, as when the uploads volume is not mounted: every
        # delete fails with NotADirectoryError.
        not_a_directory = tmp_path / "unmounted"
        not_a_directory.write_bytes(b"")
        chosen = Backend(
            name="local",
            storage=LocalStorage(tmp_path / "uploads"),
            broken=LocalStorage(not_a_directory),
        )
    else:
        standin: S3StandIn = request.getfixturevalue("s3")
        prefix = f"products-{uuid.uuid4().hex[:8]}"
        chosen = Backend(
            name="s3",
            storage=storage_from_url(standin.storage_url(prefix=prefix)),
            # A rotated secret: S3 rejects every request with SignatureDoesNotMatch.
            broken=storage_from_url(standin.storage_url(prefix=prefix, secret="rotated")),  # noqa: S106
        )
    configure_storage(chosen.storage)
    try:
        yield chosen
    finally:
        configure_storage(previous)


async def _product_with_photos(
    client: httpx.AsyncClient, headers: dict[str, str], count: int
) -> uuid.UUID:
    product = await create_product(client, headers, "Abajur")
    for _ in range(count):
        response = await upload(client, product["id"], headers, png_bytes())
        assert response.status_code == 201, response.text
    return uuid.UUID(product["id"])


async def _photo_keys(db: AsyncSession, product_id: uuid.UUID) -> list[str]:
    query = (
        select(ProductImage.storage_key)
        .where(ProductImage.product_id == product_id)
        .order_by(ProductImage.position)
    )
    return list((await db.scalars(query)).all())


async def _queued_jobs(db: AsyncSession) -> list[dict[str, Any]]:
    rows = await db.execute(
        text("SELECT args FROM procrastinate_jobs WHERE task_name = :task AND status = 'todo'"),
        {"task": images.DELETE_FILES_TASK},
    )
    return [row.args for row in rows]


async def _delete(
    client: httpx.AsyncClient, product_id: uuid.UUID, headers: dict[str, str]
) -> None:
    response = await client.delete(f"/api/products/{product_id}", headers=headers)
    assert response.status_code == 204


@pytest.fixture
async def seller(make_user: Any) -> User:
    user: User = await make_user(role="partner")
    return user


async def test_delete_queues_job_and_keeps_files(
    client: httpx.AsyncClient,
    db: AsyncSession,
    seller: User,
    auth_headers: Any,
    backend: Backend,
) -> None:
    headers = auth_headers(seller)
    product_id = await _product_with_photos(client, headers, 2)
    keys = await _photo_keys(db, product_id)

    await _delete(client, product_id, headers)

    assert await _queued_jobs(db) == [{"product_id": str(product_id)}]
    # The request only queued the job: files and rows are still there.
    assert await _photo_keys(db, product_id) == keys
    for key in keys:
        assert await backend.has(key)


async def test_product_without_photos_queues_nothing(
    client: httpx.AsyncClient, db: AsyncSession, seller: User, auth_headers: Any
) -> None:
    headers = auth_headers(seller)
    product_id = await _product_with_photos(client, headers, 0)

    await _delete(client, product_id, headers)

    assert await _queued_jobs(db) == []


async def test_rolled_back_delete_queues_nothing(
    client: httpx.AsyncClient, db: AsyncSession, seller: User, auth_headers: Any
) -> None:
    product_id = await _product_with_photos(client, auth_headers(seller), 1)

    with pytest.raises(RuntimeError):
        async with session_scope() as session:
            await service.delete_product(session, product_id=product_id, user=seller)
            raise RuntimeError("a later step of the request failed")

    assert await _queued_jobs(db) == []
    status = await db.scalar(
        select(Product.status)
        .where(Product.id == product_id)
        .execution_options(populate_existing=True)
    )
    assert status == ProductStatus.ACTIVE


async def test_job_deletes_files_then_rows(
    client: httpx.AsyncClient,
    db: AsyncSession,
    seller: User,
    auth_headers: Any,
    backend: Backend,
) -> None:
    headers = auth_headers(seller)
    product_id = await _product_with_photos(client, headers, 2)
    kept_id = await _product_with_photos(client, headers, 1)
    keys = await _photo_keys(db, product_id)
    kept_keys = await _photo_keys(db, kept_id)
    await _delete(client, product_id, headers)

    ran = await run_queued_jobs(db, task_names={images.DELETE_FILES_TASK})

    assert ran == [images.DELETE_FILES_TASK]
    assert await _photo_keys(db, product_id) == []
    for key in keys:
        assert not await backend.has(key)
    # Another product of the same seller keeps its photo.
    assert await _photo_keys(db, kept_id) == kept_keys
    assert await backend.has(kept_keys[0])

    # A repeated run (a retry after a lost acknowledgement) finds nothing to do.
    assert await product_tasks.delete_image_files(product_id=str(product_id)) == 0


async def test_failed_storage_keeps_rows_for_retry(
    client: httpx.AsyncClient,
    db: AsyncSession,
    seller: User,
    auth_headers: Any,
    backend: Backend,
) -> None:
    headers = auth_headers(seller)
    product_id = await _product_with_photos(client, headers, 2)
    keys = await _photo_keys(db, product_id)
    await _delete(client, product_id, headers)

    configure_storage(backend.broken)
    with pytest.raises(product_tasks.ImageFilesNotDeleted):
        await run_queued_jobs(db, task_names={images.DELETE_FILES_TASK})

    # No row went without its file, and the files are intact for the retry.
    assert await _photo_keys(db, product_id) == keys
    for key in keys:
        assert await backend.has(key)

    configure_storage(backend.storage)
    assert await product_tasks.delete_image_files(product_id=str(product_id)) == 2

    assert await _photo_keys(db, product_id) == []
    for key in keys:
        assert not await backend.has(key)


async def test_one_failed_file_keeps_only_its_row(
    client: httpx.AsyncClient, db: AsyncSession, seller: User, auth_headers: Any, tmp_path: Path
) -> None:
    root = tmp_path / "uploads"
    storage = LocalStorage(root)
    previous = get_storage()
    configure_storage(storage)
    try:
        headers = auth_headers(seller)
        product_id = await _product_with_photos(client, headers, 2)
        first, second = await _photo_keys(db, product_id)
        await _delete(client, product_id, headers)
        # A directory where the second file should be: unlink fails with IsADirectoryError.
        blocked = storage.path_for(second)
        blocked.unlink()
        blocked.mkdir()
        (blocked / "inside").write_bytes(b"x")

        with pytest.raises(product_tasks.ImageFilesNotDeleted):
            await product_tasks.delete_image_files(product_id=str(product_id))

        assert await _photo_keys(db, product_id) == [second]
        assert not await storage.exists(first)

        shutil.rmtree(blocked)
        blocked.write_bytes(b"the stored photo")
        assert await product_tasks.delete_image_files(product_id=str(product_id)) == 1
        assert await _photo_keys(db, product_id) == []
        assert not await storage.exists(second)
    finally:
        configure_storage(previous)


async def test_job_keeps_photos_of_active_product(
    client: httpx.AsyncClient, db: AsyncSession, seller: User, auth_headers: Any
) -> None:
    product_id = await _product_with_photos(client, auth_headers(seller), 1)
    keys = await _photo_keys(db, product_id)

    assert await product_tasks.delete_image_files(product_id=str(product_id)) == 0

    assert await _photo_keys(db, product_id) == keys
    assert await get_storage().exists(keys[0])


async def test_sweep_deletes_leftover_files(
    client: httpx.AsyncClient,
    db: AsyncSession,
    seller: User,
    auth_headers: Any,
    backend: Backend,
) -> None:
    headers = auth_headers(seller)
    # Deleted before the job existed: the row is marked deleted, and no job was queued.
    leftover_id = await _product_with_photos(client, headers, 2)
    await db.execute(
        update(Product)
        .where(Product.id == leftover_id)
        .values(status=ProductStatus.DELETED, deleted_at=text("now()"))
    )
    active_id = await _product_with_photos(client, headers, 1)
    leftover_keys = await _photo_keys(db, leftover_id)
    active_keys = await _photo_keys(db, active_id)
    assert await images.deleted_products_with_files(db, limit=10) == [leftover_id]

    await product_tasks.sweep_deleted_image_files(timestamp=0)

    assert await _photo_keys(db, leftover_id) == []
    for key in leftover_keys:
        assert not await backend.has(key)
    assert await _photo_keys(db, active_id) == active_keys
    assert await backend.has(active_keys[0])
    assert await images.deleted_products_with_files(db, limit=10) == []


async def test_sweep_stops_when_storage_fails(
    client: httpx.AsyncClient,
    db: AsyncSession,
    seller: User,
    auth_headers: Any,
    backend: Backend,
) -> None:
    headers = auth_headers(seller)
    count = product_tasks.SWEEP_STOP_AFTER_FAILED_PRODUCTS + 1
    leftover_ids = [await _product_with_photos(client, headers, 1) for _ in range(count)]
    await db.execute(
        update(Product)
        .where(Product.id.in_(leftover_ids))
        .values(status=ProductStatus.DELETED, deleted_at=text("now()"))
    )
    keys = {product_id: await _photo_keys(db, product_id) for product_id in leftover_ids}
    configure_storage(backend.broken)

    with structlog.testing.capture_logs() as events:
        await product_tasks.sweep_deleted_image_files(timestamp=0)

    stopped = [event for event in events if event["event"] == "products.image_sweep_stopped"]
    attempts = [event for event in events if event["event"] == "product.image_files_deleted"]
    assert len(stopped) == 1
    assert len(attempts) == product_tasks.SWEEP_STOP_AFTER_FAILED_PRODUCTS
    for product_id in leftover_ids:
        assert await _photo_keys(db, product_id) == keys[product_id]
        assert await backend.has(keys[product_id][0])


async def test_deleted_product_photo_not_served(
    client: httpx.AsyncClient, seller: User, auth_headers: Any
) -> None:
    # Why the files can go at once: after the delete nothing serves them, not even to
    # the seller, and purchase items carry no photo.
    headers = auth_headers(seller)
    product = await create_product(client, headers, "Abajur")
    uploaded = await upload(client, product["id"], headers, png_bytes())
    url = uploaded.json()["images"][0]["url"]

    await _delete(client, uuid.UUID(product["id"]), headers)

    assert (await client.get(url)).status_code == 404
    assert (await client.get(url, headers=headers)).status_code == 404


def test_worker_loads_cleanup_tasks() -> None:
    # A worker imports only the modules in TASK_MODULES, so a job of a task defined
    # elsewhere fails there as unknown.
    assert "taskgo.products.tasks" in TASK_MODULES


async def test_removing_photo_of_deleted_product_not_found(
    client: httpx.AsyncClient,
    db: AsyncSession,
    seller: User,
    auth_headers: Any,
    backend: Backend,
) -> None:
    # A deleted product is not found anywhere else in the API, and its photos belong to
    # the cleanup job.
    headers = auth_headers(seller)
    product = await create_product(client, headers, "Abajur")
    uploaded = await upload(client, product["id"], headers, png_bytes())
    image_id = uploaded.json()["images"][0]["id"]
    product_id = uuid.UUID(product["id"])
    keys = await _photo_keys(db, product_id)
    await _delete(client, product_id, headers)

    response = await client.delete(f"/api/products/{product_id}/images/{image_id}", headers=headers)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "product.image_not_found"
    assert await _photo_keys(db, product_id) == keys


async def test_photo_whose_file_is_gone_not_found(
    client: httpx.AsyncClient, seller: User, auth_headers: Any, backend: Backend
) -> None:
    # A request that read the row just before the cleanup (or a photo removal) deleted
    # the file finds no file: the photo is gone, not a server error.
    headers = auth_headers(seller)
    product = await create_product(client, headers, "Abajur")
    uploaded = await upload(client, product["id"], headers, png_bytes())
    url = uploaded.json()["images"][0]["url"]
    image_id = uploaded.json()["images"][0]["id"]
    await backend.storage.delete(f"products/{product['id']}/{image_id}.png")

    response = await client.get(url, headers={"Accept-Language": "en"})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "product.image_not_found"


async def test_photo_read_when_storage_fails(
    client: httpx.AsyncClient, seller: User, auth_headers: Any, backend: Backend
) -> None:
    headers = auth_headers(seller)
    product = await create_product(client, headers, "Abajur")
    uploaded = await upload(client, product["id"], headers, png_bytes())
    url = uploaded.json()["images"][0]["url"]
    configure_storage(backend.broken)

    response = await client.get(url)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "upload.storage_unavailable"


async def test_photo_upload_when_storage_fails(
    client: httpx.AsyncClient, db: AsyncSession, seller: User, auth_headers: Any, backend: Backend
) -> None:
    headers = auth_headers(seller)
    product = await create_product(client, headers, "Abajur")
    configure_storage(backend.broken)

    response = await upload(client, product["id"], headers, png_bytes())

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "upload.storage_unavailable"
    assert await _photo_keys(db, uuid.UUID(product["id"])) == []


@pytest.fixture
def local_storage(tmp_path: Path) -> Iterator[LocalStorage]:
    """Use storage on local disk for the test, where a file can be made undeletable."""
    storage = LocalStorage(tmp_path / "uploads")
    previous = get_storage()
    configure_storage(storage)
    yield storage
    configure_storage(previous)


async def _deleted_hours_ago(db: AsyncSession, product_ids: list[uuid.UUID]) -> None:
    """Mark ``product_ids`` deleted, the first one longest ago."""
    for hours_ago, product_id in enumerate(reversed(product_ids), start=1):
        await db.execute(
            update(Product)
            .where(Product.id == product_id)
            .values(
                status=ProductStatus.DELETED,
                deleted_at=text(f"now() - interval '{hours_ago} hours'"),
            )
        )


def _block_file(storage: LocalStorage, key: str) -> None:
    """Replace the file of ``key`` with a folder that is not empty, which no delete removes."""
    blocked = storage.path_for(key)
    blocked.unlink()
    blocked.mkdir()
    (blocked / "inside").write_bytes(b"x")


async def test_sweep_passes_one_stuck_file(
    client: httpx.AsyncClient,
    db: AsyncSession,
    seller: User,
    auth_headers: Any,
    local_storage: LocalStorage,
) -> None:
    # One file that storage cannot delete, while storage works for everything else, must
    # not stop the cleanup of every product deleted after it.
    headers = auth_headers(seller)
    stuck_id = await _product_with_photos(client, headers, 1)
    later_id = await _product_with_photos(client, headers, 1)
    await _deleted_hours_ago(db, [stuck_id, later_id])
    (stuck_key,) = await _photo_keys(db, stuck_id)
    (later_key,) = await _photo_keys(db, later_id)
    _block_file(local_storage, stuck_key)

    await product_tasks.sweep_deleted_image_files(timestamp=0)

    assert await _photo_keys(db, stuck_id) == [stuck_key]
    assert await _photo_keys(db, later_id) == []
    assert not await local_storage.exists(later_key)


async def test_sweep_list_rotates(
    client: httpx.AsyncClient, db: AsyncSession, seller: User, auth_headers: Any
) -> None:
    headers = auth_headers(seller)
    ids = [await _product_with_photos(client, headers, 1) for _ in range(4)]
    await _deleted_hours_ago(db, ids)

    assert await images.deleted_products_with_files(db, limit=10) == ids
    assert await images.deleted_products_with_files(db, limit=10, rotation=1) == [*ids[1:], ids[0]]
    assert await images.deleted_products_with_files(db, limit=10, rotation=5) == [*ids[1:], ids[0]]
    assert await images.deleted_products_with_files(db, limit=2, rotation=3) == [ids[3], ids[0]]
    assert await images.deleted_products_with_files(db, limit=2, rotation=1) == ids[1:3]


async def test_sweep_passes_stuck_products_next_hour(
    client: httpx.AsyncClient,
    db: AsyncSession,
    seller: User,
    auth_headers: Any,
    local_storage: LocalStorage,
) -> None:
    # Enough products whose files cannot be deleted to stop a run, deleted before another.
    headers = auth_headers(seller)
    count = product_tasks.SWEEP_STOP_AFTER_FAILED_PRODUCTS
    stuck_ids = [await _product_with_photos(client, headers, 1) for _ in range(count)]
    later_id = await _product_with_photos(client, headers, 1)
    await _deleted_hours_ago(db, [*stuck_ids, later_id])
    for product_id in stuck_ids:
        (key,) = await _photo_keys(db, product_id)
        _block_file(local_storage, key)
    (later_key,) = await _photo_keys(db, later_id)

    await product_tasks.sweep_deleted_image_files(timestamp=0)
    kept_after_first_run = await _photo_keys(db, later_id)
    await product_tasks.sweep_deleted_image_files(timestamp=3600)

    assert kept_after_first_run == [later_key]
    assert await _photo_keys(db, later_id) == []
    assert not await local_storage.exists(later_key)
    for product_id in stuck_ids:
        assert len(await _photo_keys(db, product_id)) == 1


@pytest.mark.timeout(30)
async def test_photo_removal_during_cleanup_job(
    live_client: httpx.AsyncClient, make_live_user: Any, auth_headers: Any, tmp_path: Path
) -> None:
    # Committed rows and two connections: the job locks the photo rows while the seller
    # removes one of them. The removal must wait and then return 404, not 204.
    storage = LocalStorage(tmp_path / "uploads")
    previous = get_storage()
    configure_storage(storage)
    try:
        seller = await make_live_user(role="partner")
        headers = auth_headers(seller)
        product = await create_product(live_client, headers, "Abajur")
        uploaded = await upload(live_client, product["id"], headers, png_bytes())
        assert uploaded.status_code == 201, uploaded.text
        image_id = uploaded.json()["images"][0]["id"]
        product_id = uuid.UUID(product["id"])
        deleted = await live_client.delete(f"/api/products/{product_id}", headers=headers)
        assert deleted.status_code == 204

        async with session_scope() as job_session:
            result = await images.delete_files_of_deleted_product(
                job_session, product_id=product_id
            )
            removal = asyncio.create_task(
                live_client.delete(f"/api/products/{product_id}/images/{image_id}", headers=headers)
            )
            # Long enough for the removal to reach the rows that the job has locked.
            await asyncio.sleep(0.5)
        response = await removal
    finally:
        configure_storage(previous)

    assert result.deleted == 1
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "product.image_not_found"

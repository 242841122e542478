"""Uploads: validate and store images, look them up for their readers, delete their files."""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime

import anyio
import anyio.to_thread
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.config import get_settings
from taskgo.db.session import after_rollback
from taskgo.errors import AppError
from taskgo.uploads.images import ProcessedImage, decode_concurrency, process_image
from taskgo.uploads.models import Upload, UploadPurpose
from taskgo.uploads.storage import Storage, StorageError, StorageObjectNotFound, storage_from_url
from taskgo.users.models import Role, User

log = structlog.get_logger(__name__)


class _StorageHolder:
    storage: Storage | None = None


def configure_storage(storage: Storage | None) -> None:
    """Install the storage backend (start-up, tests); None rebuilds it from settings."""
    _StorageHolder.storage = storage


def get_storage() -> Storage:
    if _StorageHolder.storage is None:
        _StorageHolder.storage = storage_from_url(get_settings().storage_url)
    return _StorageHolder.storage


def storage_unavailable() -> AppError:
    return AppError("upload.storage_unavailable", status=503)


def parse_purpose(value: str | None) -> UploadPurpose:
    try:
        return UploadPurpose((value or "").strip())
    except ValueError:
        raise AppError(
            "upload.invalid_purpose",
            field="purpose",
            purposes=", ".join(purpose.value for purpose in UploadPurpose),
        ) from None


def upload_url(upload_id: uuid.UUID) -> str:
    return f"{get_settings().public_base_url.rstrip('/')}/api/uploads/{upload_id}"


def _storage_key(upload_id: uuid.UUID, purpose: UploadPurpose, extension: str) -> str:
    now = datetime.now(UTC)
    return f"{purpose.value}/{now:%Y/%m}/{upload_id}.{extension}"


_decode_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def decode_limiter() -> anyio.CapacityLimiter:
    """Return this event loop's limiter of image decodes, sized by `decode_concurrency()`.

    Uploads wait for it before they take a worker thread, so a burst of them waits here
    instead of filling the thread pool. `process_image` has its own bound for the threads.
    """
    loop = asyncio.get_running_loop()
    limiter = _decode_limiters.get(loop)
    if limiter is None:
        limiter = anyio.CapacityLimiter(decode_concurrency())
        _decode_limiters[loop] = limiter
    return limiter


async def prepare_image(data: bytes) -> ProcessedImage:
    """Validate and re-encode an uploaded image in a worker thread.

    It can take seconds and hundreds of megabytes, so call it before the request takes a
    database connection. Raises the AppErrors of `process_image`.
    """
    return await anyio.to_thread.run_sync(process_image, data, limiter=decode_limiter())


async def create_upload(
    session: AsyncSession, *, owner: User, purpose: UploadPurpose, data: bytes
) -> Upload:
    """Validate, re-encode and store an image, then add its row (flushed, not committed).

    The session's connection, if it has one, stays checked out while the image is
    processed: requests call `prepare_image` first and then `store_upload`.
    Raises the AppErrors of `process_image`, and 503 `upload.storage_unavailable`.
    """
    image = await prepare_image(data)
    return await store_upload(session, owner=owner, purpose=purpose, image=image)


async def store_upload(
    session: AsyncSession, *, owner: User, purpose: UploadPurpose, image: ProcessedImage
) -> Upload:
    """Store a prepared image, then add its row (flushed, not committed).

    When the transaction does not commit, the stored file is removed again.
    Raises 503 `upload.storage_unavailable`.
    """
    upload_id = uuid.uuid4()
    key = _storage_key(upload_id, purpose, image.extension)

    storage = get_storage()
    try:
        await storage.put(key, image.data, content_type=image.content_type)
    except StorageError as exc:
        log.error("upload.store_failed", upload_id=str(upload_id), error=str(exc))
        raise storage_unavailable() from exc

    upload = Upload(
        id=upload_id,
        owner_id=owner.id,
        purpose=purpose.value,
        storage_key=key,
        content_type=image.content_type,
        size_bytes=len(image.data),
        width=image.width,
        height=image.height,
        sha256=image.sha256,
        source_sha256=image.source_sha256,
        source_format=image.source_format.value,
    )
    session.add(upload)

    async def remove_orphan() -> None:
        await _delete_quietly(storage, key, upload_id=upload_id)

    # Without its row the file would be unreachable: when the transaction does not commit
    # (this flush or anything later in the request fails), the file is removed again.
    after_rollback(session, remove_orphan)
    await session.flush()

    log.info(
        "upload.created",
        upload_id=str(upload_id),
        owner_id=str(owner.id),
        purpose=purpose.value,
        size_bytes=len(image.data),
        source_format=image.source_format.value,
    )
    return upload


async def _delete_quietly(storage: Storage, key: str, *, upload_id: uuid.UUID) -> None:
    try:
        await storage.delete(key)
    except StorageError as exc:
        log.error("upload.orphan_delete_failed", upload_id=str(upload_id), error=str(exc))


def can_read(upload: Upload, user: User | None) -> bool:
    """Public images are readable by anyone; private ones by their owner and admins."""
    if not upload.is_private:
        return True
    if user is None:
        return False
    return user.id == upload.owner_id or user.role == Role.ADMIN


async def get_upload(session: AsyncSession, upload_id: uuid.UUID) -> Upload:
    upload = await session.get(Upload, upload_id)
    if upload is None:
        raise AppError("upload.not_found", status=404)
    return upload


async def read_file(upload: Upload) -> bytes:
    """Return the stored bytes; 410 when retention deleted them, 503 when storage fails."""
    if upload.file_deleted_at is not None:
        raise AppError("upload.file_deleted", status=410)
    try:
        return await get_storage().get(upload.storage_key)
    except StorageObjectNotFound as exc:
        log.error("upload.file_missing", upload_id=str(upload.id))
        raise AppError("upload.file_deleted", status=410) from exc
    except StorageError as exc:
        log.error("upload.read_failed", upload_id=str(upload.id), error=str(exc))
        raise storage_unavailable() from exc


async def get_owned_uploads(
    session: AsyncSession, *, owner_id: uuid.UUID, upload_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Upload]:
    """Return the caller's uploads among `upload_ids` whose files still exist, by id."""
    rows = await session.scalars(
        select(Upload).where(
            Upload.id.in_(list(upload_ids)),
            Upload.owner_id == owner_id,
            Upload.file_deleted_at.is_(None),
        )
    )
    return {upload.id: upload for upload in rows}


async def delete_file(session: AsyncSession, upload: Upload) -> bool:
    """Delete the stored file and mark the row; return False when it was already gone.

    Raises StorageError when the backend fails, so a job can retry later.
    """
    if upload.file_deleted_at is not None:
        return False
    await get_storage().delete(upload.storage_key)
    upload.file_deleted_at = datetime.now(UTC)
    await session.flush()
    log.info("upload.file_deleted", upload_id=str(upload.id), purpose=upload.purpose)
    return True

"""Upload routes: validation errors, storage, and who may read which file."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from taskgo.db.session import Database, session_scope
from taskgo.uploads.models import Upload, UploadPurpose
from taskgo.uploads.service import (
    configure_storage,
    create_upload,
    decode_limiter,
    get_storage,
    prepare_image,
    store_upload,
)
from taskgo.uploads.storage import storage_from_url
from taskgo.users.models import User
from tests.uploads.s3_standin import BUCKET, S3StandIn, running_s3_standin
from tests.uploads.test_images import FIXTURES, HOSTILE_HEIC, exif_with_gps, png_header_only
from tests.verification.documents import encode, portrait

MakeUser = Callable[..., Awaitable[User]]
Headers = Callable[..., dict[str, str]]


async def post_upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    data: bytes,
    *,
    purpose: str = "document",
    filename: str = "photo.jpg",
    content_type: str = "image/jpeg",
) -> httpx.Response:
    return await client.post(
        "/api/uploads",
        files={"file": (filename, data, content_type)},
        data={"purpose": purpose},
        headers=headers,
    )


async def upload_count(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(Upload)) or 0)


@pytest.fixture
async def partner(make_user: MakeUser) -> User:
    return await make_user(role="partner", name="José Araújo")


async def test_upload_document_returns_201(
    client: httpx.AsyncClient, db: AsyncSession, partner: User, auth_headers: Headers
) -> None:
    source = encode(portrait(), "JPEG", orientation=1)
    response = await post_upload(client, auth_headers(partner), source)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["purpose"] == "document"
    assert body["contentType"] == "image/jpeg"
    assert (body["width"], body["height"]) == (512, 512)
    assert body["url"].endswith(f"/api/uploads/{body['uploadId']}")

    upload = await db.get(Upload, uuid.UUID(body["uploadId"]))
    assert upload is not None
    assert upload.owner_id == partner.id
    stored = await get_storage().get(upload.storage_key)
    assert len(stored) == upload.size_bytes
    assert upload.sha256 == body["sha256"]


async def test_uploaded_file_has_no_gps(
    client: httpx.AsyncClient, partner: User, auth_headers: Headers
) -> None:
    buffer = io.BytesIO()
    portrait().save(buffer, format="JPEG", exif=exif_with_gps())
    response = await post_upload(client, auth_headers(partner), buffer.getvalue())
    assert response.status_code == 201

    served = await client.get(
        f"/api/uploads/{response.json()['uploadId']}", headers=auth_headers(partner)
    )
    assert served.status_code == 200
    assert dict(Image.open(io.BytesIO(served.content)).getexif()) == {}


async def test_pdf_named_jpg_rejected_415(
    client: httpx.AsyncClient, db: AsyncSession, partner: User, auth_headers: Headers
) -> None:
    pdf = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<<>>\n%%EOF\n"
    response = await post_upload(client, auth_headers(partner), pdf, filename="rg.jpg")

    assert response.status_code == 415
    error = response.json()["error"]
    assert error["code"] == "upload.unsupported_type"
    assert error["details"]["field"] == "file"
    assert "JPEG" in error["message"]
    assert await upload_count(db) == 0


async def test_decompression_bomb_rejected_413(
    client: httpx.AsyncClient, db: AsyncSession, partner: User, auth_headers: Headers
) -> None:
    response = await post_upload(
        client, auth_headers(partner), png_header_only(30_000, 30_000), filename="a.png"
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "upload.image_too_large"
    assert error["details"]["width"] == 30_000
    assert "30000 × 30000" in error["message"]
    assert await upload_count(db) == 0


async def test_error_message_in_english(
    client: httpx.AsyncClient, partner: User, auth_headers: Headers
) -> None:
    headers = auth_headers(partner, **{"Accept-Language": "en-US,en;q=0.9"})
    response = await post_upload(client, headers, b"GIF89a\x01\x00\x01\x00")
    assert response.status_code == 415
    assert response.json()["error"]["message"] == (
        "Unsupported file type. Send a JPEG, PNG, WebP or HEIC image."
    )


async def test_body_over_limit_rejected_before_reading(
    client: httpx.AsyncClient, partner: User, auth_headers: Headers
) -> None:
    data = b"\xff\xd8\xff" + b"\x00" * (11 * 1024 * 1024)
    response = await post_upload(client, auth_headers(partner), data)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "upload.file_too_large"


@pytest.mark.parametrize(
    ("purpose", "code"),
    [("passport", "upload.invalid_purpose"), ("", "upload.invalid_purpose")],
)
async def test_invalid_purpose_rejected(
    client: httpx.AsyncClient, partner: User, auth_headers: Headers, purpose: str, code: str
) -> None:
    response = await post_upload(client, auth_headers(partner), encode(portrait()), purpose=purpose)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["details"]["field"] == "purpose"


async def test_missing_file_rejected(
    client: httpx.AsyncClient, partner: User, auth_headers: Headers
) -> None:
    response = await client.post(
        "/api/uploads",
        data={"purpose": "document", "file": "not a file"},
        files={"other": ("x.txt", b"x", "text/plain")},
        headers=auth_headers(partner),
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "upload.file_missing"


async def test_json_body_rejected_415(
    client: httpx.AsyncClient, partner: User, auth_headers: Headers
) -> None:
    response = await client.post(
        "/api/uploads", json={"file": "abc"}, headers=auth_headers(partner)
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "upload.multipart_required"


async def test_chunked_body_needs_length(
    client: httpx.AsyncClient, partner: User, auth_headers: Headers
) -> None:
    async def chunks() -> Any:
        yield b"--x\r\n"

    headers = {**auth_headers(partner), "Content-Type": "multipart/form-data; boundary=x"}
    response = await client.post("/api/uploads", content=chunks(), headers=headers)
    assert response.status_code == 411
    assert response.json()["error"]["code"] == "upload.length_required"


async def test_upload_needs_authentication(client: httpx.AsyncClient) -> None:
    response = await post_upload(client, {}, encode(portrait()))
    assert response.status_code == 401


async def test_private_file_served_to_owner_and_admin_only(
    client: httpx.AsyncClient, partner: User, make_user: MakeUser, auth_headers: Headers
) -> None:
    created = await post_upload(client, auth_headers(partner), encode(portrait()), purpose="selfie")
    url = f"/api/uploads/{created.json()['uploadId']}"
    stranger = await make_user(role="partner", name="Outra Pessoa")
    admin = await make_user(role="admin", name="Admin")

    owner_view = await client.get(url, headers=auth_headers(partner))
    assert owner_view.status_code == 200
    assert owner_view.headers["content-type"] == "image/jpeg"
    assert owner_view.headers["x-content-type-options"] == "nosniff"
    assert owner_view.headers["cache-control"] == "private, no-store"
    assert Image.open(io.BytesIO(owner_view.content)).size == (512, 512)

    admin_view = await client.get(url, headers=auth_headers(admin))
    assert admin_view.status_code == 200
    assert admin_view.content == owner_view.content

    stranger_view = await client.get(url, headers=auth_headers(stranger))
    assert stranger_view.status_code == 404
    assert stranger_view.json()["error"]["code"] == "upload.not_found"

    # Without a valid token it reads as an id that does not exist.
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        anonymous = await client.get(url, headers=headers)
        assert anonymous.status_code == 404
        assert anonymous.json()["error"]["code"] == "upload.not_found"


async def test_public_file_served_without_token(
    client: httpx.AsyncClient, partner: User, auth_headers: Headers
) -> None:
    png = encode(portrait(), "PNG")
    created = await post_upload(
        client, auth_headers(partner), png, purpose="product_image", filename="p.png"
    )
    assert created.status_code == 201
    url = f"/api/uploads/{created.json()['uploadId']}"

    response = await client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "immutable" in response.headers["cache-control"]

    cached = await client.get(url, headers={"If-None-Match": response.headers["etag"]})
    assert cached.status_code == 304
    assert cached.content == b""


async def test_unknown_upload_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/uploads/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "upload.not_found"


@pytest.fixture
def s3_backend() -> Iterator[S3StandIn]:
    previous = get_storage()
    with running_s3_standin() as standin:
        configure_storage(storage_from_url(standin.storage_url(prefix="api")))
        try:
            yield standin
        finally:
            configure_storage(previous)


async def test_upload_through_s3_backend(
    client: httpx.AsyncClient,
    db: AsyncSession,
    partner: User,
    auth_headers: Headers,
    s3_backend: S3StandIn,
) -> None:
    response = await post_upload(client, auth_headers(partner), encode(portrait()))
    assert response.status_code == 201
    upload = await db.get(Upload, uuid.UUID(response.json()["uploadId"]))
    assert upload is not None

    stored = s3_backend.client().get_object(Bucket=BUCKET, Key=f"api/{upload.storage_key}")
    assert stored["ContentType"] == "image/jpeg"
    assert stored["Body"].read()[:3] == b"\xff\xd8\xff"

    served = await client.get(f"/api/uploads/{upload.id}", headers=auth_headers(partner))
    assert served.status_code == 200
    assert served.content[:3] == b"\xff\xd8\xff"


async def test_storage_down_returns_503(
    client: httpx.AsyncClient, db: AsyncSession, partner: User, auth_headers: Headers
) -> None:
    previous = get_storage()
    # Port 9 on loopback is closed, so every S3 request fails to connect.
    configure_storage(storage_from_url("s3://AKID:secret@bucket/x?endpoint=http://127.0.0.1:9"))
    try:
        response = await post_upload(client, auth_headers(partner), encode(portrait()))
    finally:
        configure_storage(previous)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "upload.storage_unavailable"
    assert await upload_count(db) == 0


async def test_rolled_back_upload_removes_file(db: AsyncSession, partner: User) -> None:
    keys: list[str] = []

    with pytest.raises(RuntimeError):
        async with session_scope() as session:
            upload = await create_upload(
                session,
                owner=partner,
                purpose=UploadPurpose.DOCUMENT,
                data=encode(portrait(), "JPEG", orientation=1),
            )
            assert await get_storage().exists(upload.storage_key)
            keys.append(upload.storage_key)
            raise RuntimeError("a later step of the request failed")

    assert not await get_storage().exists(keys[0])


@pytest.mark.parametrize("name", HOSTILE_HEIC)
async def test_hostile_heic_rejected_422(
    client: httpx.AsyncClient, db: AsyncSession, partner: User, auth_headers: Headers, name: str
) -> None:
    data = (FIXTURES / name).read_bytes()
    headers = auth_headers(partner, **{"Accept-Language": "en"})
    response = await post_upload(
        client, headers, data, filename=name, content_type="image/heic", purpose="product_image"
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "upload.invalid_image"
    assert error["details"]["field"] == "file"
    assert error["message"].startswith("The image is corrupt")
    assert await upload_count(db) == 0


async def _eventually(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met within 5 s")


@pytest.fixture
async def one_connection_pool(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AsyncEngine]:
    """Give the app a pool of one connection that a waiting request gives up on quickly."""
    assert Database.engine is not None
    small = create_async_engine(Database.engine.url, pool_size=1, max_overflow=0, pool_timeout=0.5)
    monkeypatch.setattr(Database, "sessionmaker", async_sessionmaker(small, expire_on_commit=False))
    try:
        yield small
    finally:
        await small.dispose()


async def test_slow_body_holds_no_connection(
    live_client: httpx.AsyncClient,
    make_live_user: MakeUser,
    auth_headers: Headers,
    one_connection_pool: AsyncEngine,
) -> None:
    partner = await make_live_user(role="partner")
    other = await make_live_user(role="client")
    form = httpx.Request(
        "POST",
        "http://testserver/api/uploads",
        files={"file": ("a.jpg", encode(portrait()), "image/jpeg")},
        data={"purpose": "document"},
    )
    body = form.read()
    gate = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield body[:100]
        await gate.wait()
        yield body[100:]

    headers = {
        **auth_headers(partner),
        "Content-Type": form.headers["Content-Type"],
        "Content-Length": str(len(body)),
    }
    upload = asyncio.create_task(
        live_client.post("/api/uploads", content=slow_body(), headers=headers)
    )
    try:
        await asyncio.sleep(0.1)
        # The upload is authenticated and waits for the rest of its body: another user's
        # request must still get the only connection.
        me = await live_client.get("/api/me", headers=auth_headers(other))
        assert me.status_code == 200, me.text
    finally:
        gate.set()
        response = await asyncio.wait_for(upload, 30)
    assert response.status_code == 201, response.text


async def test_decode_wait_holds_no_connection(
    live_client: httpx.AsyncClient,
    make_live_user: MakeUser,
    auth_headers: Headers,
    one_connection_pool: AsyncEngine,
) -> None:
    partner = await make_live_user(role="partner")
    other = await make_live_user(role="client")
    limiter = decode_limiter()
    # Every decode slot is taken, as during a burst of 50-megapixel images.
    holders = [object() for _ in range(int(limiter.total_tokens))]
    for holder in holders:
        await limiter.acquire_on_behalf_of(holder)
    upload = asyncio.create_task(
        post_upload(live_client, auth_headers(partner), encode(portrait()))
    )
    try:
        await _eventually(lambda: limiter.statistics().tasks_waiting == 1)
        assert one_connection_pool.pool.checkedout() == 0  # type: ignore[attr-defined]
        me = await live_client.get("/api/me", headers=auth_headers(other))
        assert me.status_code == 200, me.text
    finally:
        for holder in holders:
            limiter.release_on_behalf_of(holder)
        response = await asyncio.wait_for(upload, 30)
    assert response.status_code == 201, response.text
    async with session_scope() as session:
        stored = await session.get(Upload, uuid.UUID(response.json()["uploadId"]))
    assert stored is not None
    assert await get_storage().exists(stored.storage_key)


async def test_failed_row_after_prepare_removes_file(db: AsyncSession, partner: User) -> None:
    image = await prepare_image(encode(portrait(), "JPEG", orientation=1))
    keys: list[str] = []
    with pytest.raises(RuntimeError):
        async with session_scope() as session:
            upload = await store_upload(
                session, owner=partner, purpose=UploadPurpose.SELFIE, image=image
            )
            keys.append(upload.storage_key)
            assert await get_storage().exists(upload.storage_key)
            raise RuntimeError("a later step of the request failed")
    assert not await get_storage().exists(keys[0])

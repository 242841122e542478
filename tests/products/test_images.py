"""Product photos: type sniffing, metadata stripping, the limit of 8, nosniff."""

from __future__ import annotations

import io
import uuid
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.db.session import commit, session_scope
from taskgo.products import images
from taskgo.products.models import ProductImage
from taskgo.uploads.service import prepare_image
from taskgo.uploads.storage import StorageObjectNotFound
from tests.products.conftest import create_product


def png_bytes(size: tuple[int, int] = (32, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (40, 20), (10, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise for display
    exif[0x8825] = {1: "S", 2: (24.0, 57.0, 20.0)}  # GPS IFD
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


async def upload(
    client: httpx.AsyncClient,
    product_id: str,
    headers: dict[str, str],
    data: bytes,
    name: str = "foto.png",
) -> httpx.Response:
    return await client.post(
        f"/api/products/{product_id}/images",
        files={"file": (name, data, "image/png")},
        headers=headers,
    )


async def test_upload_and_serve_image(
    client: httpx.AsyncClient, make_user: Any, auth_headers: Any
) -> None:
    seller = await make_user(role="partner")
    product = await create_product(client, auth_headers(seller), "Luminária")
    response = await upload(
        client, product["id"], auth_headers(seller), jpeg_with_gps(), "foto.jpg"
    )
    assert response.status_code == 201, response.text
    image = response.json()["images"][0]
    # EXIF orientation 6 turns 40×20 into 20×40.
    assert (image["width"], image["height"]) == (20, 40)

    served = await client.get(image["url"])
    assert served.status_code == 200
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["cache-control"] == "public, max-age=300"
    assert served.headers["content-type"] == "image/jpeg"
    reopened = Image.open(io.BytesIO(served.content))
    assert 0x8825 not in reopened.getexif()
    assert 0x0112 not in reopened.getexif()


async def test_pdf_named_png_rejected(
    client: httpx.AsyncClient, make_user: Any, auth_headers: Any
) -> None:
    seller = await make_user(role="partner")
    product = await create_product(client, auth_headers(seller), "Luminária")
    response = await upload(
        client, product["id"], auth_headers(seller), b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "upload.unsupported_type"


async def test_ninth_image_rejected(
    client: httpx.AsyncClient, make_user: Any, auth_headers: Any
) -> None:
    seller = await make_user(role="partner")
    product = await create_product(client, auth_headers(seller), "Luminária")
    for _ in range(8):
        assert (
            await upload(client, product["id"], auth_headers(seller), png_bytes())
        ).status_code == 201
    ninth = await upload(client, product["id"], auth_headers(seller), png_bytes())
    assert ninth.status_code == 422
    assert ninth.json()["error"]["code"] == "product.too_many_images"


async def test_other_partner_cannot_upload(
    client: httpx.AsyncClient, make_user: Any, auth_headers: Any
) -> None:
    seller = await make_user(role="partner")
    intruder = await make_user(role="partner")
    product = await create_product(client, auth_headers(seller), "Luminária")
    response = await upload(client, product["id"], auth_headers(intruder), png_bytes())
    assert response.status_code == 403
    fetched = await client.get(f"/api/products/{product['id']}", headers=auth_headers(seller))
    assert fetched.json()["images"] == []


async def test_file_deleted_only_after_commit(
    client: httpx.AsyncClient, db: AsyncSession, make_user: Any, auth_headers: Any
) -> None:
    seller = await make_user(role="partner")
    product = await create_product(client, auth_headers(seller), "Abajur")
    uploaded = await upload(client, product["id"], auth_headers(seller), png_bytes())
    image_id = uploaded.json()["images"][0]["id"]
    key = await db.scalar(select(ProductImage.storage_key).where(ProductImage.id == image_id))
    assert key is not None

    await images.remove_image(
        db, product_id=uuid.UUID(product["id"]), image_id=uuid.UUID(image_id), user=seller
    )
    # The file was deleted before the commit, so a rollback left a row without its file.
    before_commit = await images.product_storage().get(key)
    await commit(db)

    assert before_commit.startswith(b"\x89PNG")
    with pytest.raises(StorageObjectNotFound):
        await images.product_storage().get(key)


async def test_rolled_back_upload_leaves_no_file(
    client: httpx.AsyncClient, db: AsyncSession, make_user: Any, auth_headers: Any
) -> None:
    seller = await make_user(role="partner")
    product = await create_product(client, auth_headers(seller), "Abajur")
    product_id = uuid.UUID(product["id"])
    keys: list[str] = []

    with pytest.raises(RuntimeError):
        async with session_scope() as session:
            image = await prepare_image(png_bytes())
            await images.add_image(session, product_id=product_id, user=seller, image=image)
            key = await session.scalar(
                select(ProductImage.storage_key).where(ProductImage.product_id == product_id)
            )
            assert key is not None
            assert await images.product_storage().exists(key)
            keys.append(key)
            raise RuntimeError("a later step of the request failed")

    assert not await images.product_storage().exists(keys[0])


async def test_draft_photo_only_for_seller(
    client: httpx.AsyncClient, make_user: Any, auth_headers: Any
) -> None:
    seller = await make_user(role="partner")
    product = await create_product(client, auth_headers(seller), "Abajur", status="draft")
    uploaded = await upload(client, product["id"], auth_headers(seller), png_bytes())
    url = uploaded.json()["images"][0]["url"]

    own = await client.get(url, headers=auth_headers(seller))
    anonymous = await client.get(url)
    other = await client.get(url, headers=auth_headers(await make_user(role="client")))
    bad_token = await client.get(url, headers={"Authorization": "Bearer not-a-token"})

    assert own.status_code == 200
    assert own.headers["cache-control"] == "private, no-store"
    assert own.content.startswith(b"\x89PNG")
    assert anonymous.status_code == 404
    assert other.status_code == 404
    assert bad_token.status_code == 401

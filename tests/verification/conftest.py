"""Helpers for verification tests: upload images through the API and submit them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from taskgo.users.models import User
from tests.verification.documents import (
    document_back,
    document_front,
    encode,
    missing_system_deps,
    portrait,
)

MakeUser = Callable[..., Awaitable[User]]
Headers = Callable[..., dict[str, str]]


async def upload_image(
    client: httpx.AsyncClient, headers: dict[str, str], data: bytes, *, purpose: str
) -> str:
    response = await client.post(
        "/api/uploads",
        files={"file": ("photo.jpg", data, "image/jpeg")},
        data={"purpose": purpose},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["uploadId"])


@dataclass
class ImageSet:
    document_front: bytes
    document_back: bytes
    selfie: bytes


def skip_without_ocr() -> None:
    missing = missing_system_deps()
    if missing is not None:
        pytest.skip(f"{missing} missing: run scripts/install-system-deps.sh")


def good_images() -> ImageSet:
    skip_without_ocr()
    return ImageSet(
        document_front=encode(document_front()),
        document_back=encode(document_back()),
        selfie=encode(portrait()),
    )


SubmitImages = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def submit_images(client: httpx.AsyncClient, auth_headers: Headers) -> SubmitImages:
    """Upload an image set as `user` and POST it to /api/verification/submit."""

    async def submit(
        user: User, images: ImageSet | None = None, **headers_extra: str
    ) -> httpx.Response:
        skip_without_ocr()
        chosen = images or good_images()
        headers = auth_headers(user)
        body: dict[str, Any] = {
            "documentFront": await upload_image(
                client, headers, chosen.document_front, purpose="document"
            ),
            "documentBack": await upload_image(
                client, headers, chosen.document_back, purpose="document"
            ),
            "selfie": await upload_image(client, headers, chosen.selfie, purpose="selfie"),
        }
        return await client.post(
            "/api/verification/submit", json=body, headers={**headers, **headers_extra}
        )

    return submit


@pytest.fixture
async def partner(make_user: MakeUser) -> User:
    """A partner whose profile name is a shortened form of the name on the document."""
    return await make_user(role="partner", name="José Araújo")


@pytest.fixture
async def admin(make_user: MakeUser) -> User:
    return await make_user(role="admin", name="Beatriz Admin")

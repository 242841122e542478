"""Storage backends: local disk and S3 (against moto's server with signing enforced)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskgo.uploads.storage import (
    LocalStorage,
    S3Storage,
    StorageError,
    StorageObjectNotFound,
    storage_from_url,
)
from tests.uploads.s3_standin import BUCKET, FORBIDDEN_BUCKET, REGION, S3StandIn, running_s3_standin


@pytest.fixture(scope="module")
def s3() -> Iterator[S3StandIn]:
    with running_s3_standin() as standin:
        yield standin


# --- local disk ---


async def test_local_roundtrip(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    await storage.put("selfie/2026/12/abc.jpg", b"\xff\xd8data", content_type="image/jpeg")

    assert await storage.get("selfie/2026/12/abc.jpg") == b"\xff\xd8data"
    assert await storage.exists("selfie/2026/12/abc.jpg")
    assert (tmp_path / "selfie/2026/12/abc.jpg").read_bytes() == b"\xff\xd8data"
    # The write went through a temporary file that was renamed, and none is left over.
    assert sorted(os.listdir(tmp_path / "selfie/2026/12")) == ["abc.jpg"]


async def test_local_overwrite_and_delete(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    await storage.put("a/b.png", b"one", content_type="image/png")
    await storage.put("a/b.png", b"two", content_type="image/png")
    assert await storage.get("a/b.png") == b"two"

    await storage.delete("a/b.png")
    assert not await storage.exists("a/b.png")
    await storage.delete("a/b.png")  # a second delete is not an error
    with pytest.raises(StorageObjectNotFound):
        await storage.get("a/b.png")


@pytest.mark.parametrize(
    "key",
    [
        "../escape.jpg",
        "a/../../escape.jpg",
        "/etc/passwd",
        "a//b.jpg",
        "A/B.jpg",
        "a/b\x00.jpg",
        "",
    ],
)
async def test_local_rejects_unsafe_keys(tmp_path: Path, key: str) -> None:
    storage = LocalStorage(tmp_path / "root")
    with pytest.raises(ValueError, match="invalid storage key"):
        await storage.put(key, b"x", content_type="image/jpeg")
    assert not (tmp_path / "escape.jpg").exists()


# --- STORAGE_URL parsing ---


def test_url_default_is_local() -> None:
    storage = storage_from_url(None)
    assert isinstance(storage, LocalStorage)
    assert storage.root == Path("var/uploads").resolve()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("file:///srv/taskgo/uploads", Path("/srv/taskgo/uploads")),
        ("file:var/files", Path("var/files").resolve()),
        ("/srv/plain/path", Path("/srv/plain/path")),
    ],
)
def test_url_local_forms(url: str, expected: Path) -> None:
    storage = storage_from_url(url)
    assert isinstance(storage, LocalStorage)
    assert storage.root == expected


def test_url_s3_form() -> None:
    storage = storage_from_url(
        "s3://AKIDEXAMPLE:se%2Fcret@my-bucket/media/kyc?endpoint=http://127.0.0.1:9/&region=sa-east-1"
    )
    assert isinstance(storage, S3Storage)
    assert storage.bucket == "my-bucket"
    assert storage.prefix == "media/kyc"
    assert "se/cret" not in storage.describe()
    assert "AKIDEXAMPLE" not in storage.describe()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://host/path", "not supported"),
        ("s3:///no-bucket", "bucket"),
        ("s3://bucket/p?endpoint=http://127.0.0.1:9&colour=red", "unknown parameters"),
        ("s3://bucket/p?addressing=sideways", "addressing"),
    ],
)
def test_url_invalid_forms(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        storage_from_url(url)


# --- S3 ---


async def test_s3_roundtrip_under_prefix(s3: S3StandIn) -> None:
    storage = storage_from_url(s3.storage_url(prefix="media"))
    await storage.put("selfie/x1.jpg", b"jpeg bytes", content_type="image/jpeg")

    assert await storage.get("selfie/x1.jpg") == b"jpeg bytes"
    assert await storage.exists("selfie/x1.jpg")

    stored = s3.client().head_object(Bucket=BUCKET, Key="media/selfie/x1.jpg")
    assert stored["ContentType"] == "image/jpeg"
    assert stored["ContentLength"] == len(b"jpeg bytes")


async def test_s3_missing_and_delete(s3: S3StandIn) -> None:
    storage = storage_from_url(s3.storage_url())
    with pytest.raises(StorageObjectNotFound):
        await storage.get("nothing/here.jpg")
    assert not await storage.exists("nothing/here.jpg")

    await storage.put("doc/d1.png", b"png", content_type="image/png")
    await storage.delete("doc/d1.png")
    assert not await storage.exists("doc/d1.png")
    await storage.delete("doc/d1.png")


async def test_s3_wrong_secret_rejected(s3: S3StandIn) -> None:
    storage = storage_from_url(s3.storage_url(secret="not-the-secret"))  # noqa: S106
    with pytest.raises(StorageError, match="SignatureDoesNotMatch"):
        await storage.put("doc/forged.png", b"png", content_type="image/png")

    listing = s3.client().list_objects_v2(Bucket=BUCKET, Prefix="uploads/doc/forged")
    assert listing.get("KeyCount", 0) == 0


async def test_s3_unknown_key_rejected(s3: S3StandIn) -> None:
    url = (
        f"s3://AKIAUNKNOWNKEY0000000:whatever@{BUCKET}/uploads"
        f"?endpoint={s3.endpoint}&region={REGION}&addressing=path"
    )
    with pytest.raises(StorageError, match="InvalidAccessKeyId"):
        await storage_from_url(url).get("doc/d1.png")


async def test_s3_bucket_outside_policy_denied(s3: S3StandIn) -> None:
    url = s3.storage_url().replace(f"@{BUCKET}/", f"@{FORBIDDEN_BUCKET}/")
    with pytest.raises(StorageError, match="AccessDenied"):
        await storage_from_url(url).put("doc/d2.png", b"png", content_type="image/png")


async def test_s3_unreachable_endpoint(s3: S3StandIn) -> None:
    # Port 9 (discard) is closed on loopback, so the connection is refused at once.
    url = s3.storage_url().replace(s3.endpoint, "http://127.0.0.1:9")
    with pytest.raises(StorageError):
        await storage_from_url(url).get("doc/d1.png")

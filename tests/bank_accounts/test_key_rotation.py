import base64
import os
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.config import reset_settings
from taskgo.crypto import key_ring

from .conftest import account_body

NEW_KEY = "test2:" + base64.b64encode(b"k" * 32).decode()


@pytest.fixture
def use_keys() -> Iterator[Callable[[str], None]]:
    """Swap FIELD_ENCRYPTION_KEYS within one test; the original keys come back afterwards."""
    original = os.environ["FIELD_ENCRYPTION_KEYS"]

    def apply(spec: str) -> None:
        os.environ["FIELD_ENCRYPTION_KEYS"] = spec
        reset_settings()
        key_ring.cache_clear()

    yield apply
    apply(original)


async def test_rotation_keeps_old_rows_readable(
    client: httpx.AsyncClient,
    db: AsyncSession,
    partner_headers: dict[str, str],
    use_keys: Callable[[str], None],
) -> None:
    old_keys = os.environ["FIELD_ENCRYPTION_KEYS"]
    old = await client.post("/api/bank-accounts", json=account_body(), headers=partner_headers)

    # Rotation: the new key goes first and encrypts; the old one stays listed to decrypt.
    use_keys(f"{NEW_KEY},{old_keys}")
    new = await client.post(
        "/api/bank-accounts", json=account_body(account="555"), headers=partner_headers
    )
    duplicate = await client.post(
        "/api/bank-accounts", json=account_body(), headers=partner_headers
    )
    listed = await client.get("/api/bank-accounts", headers=partner_headers)

    assert old.status_code == 201
    assert new.status_code == 201
    rows = await db.execute(text("SELECT id::text, account_encrypted FROM bank_accounts"))
    tokens = {row_id: token for row_id, token in rows.all()}
    assert tokens[old.json()["id"]].startswith("test1:")
    assert tokens[new.json()["id"]].startswith("test2:")
    assert [item["account"] for item in listed.json()["items"]] == ["****5678-9", "**5-9"]
    # The blind index key derives from the oldest key, so the old account is still a duplicate.
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "bank_account.duplicate"

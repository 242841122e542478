"""Concurrent writes to one product, on transactions that really commit (`live_client`)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from taskgo.db.session import session_scope
from taskgo.products import service
from taskgo.products.models import Product
from tests.products.conftest import create_product


@pytest.mark.timeout(60)
async def test_patch_cannot_undo_delete(
    live_client: httpx.AsyncClient,
    make_live_user: Any,
    auth_headers: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seller = await make_live_user(role="partner")
    headers = auth_headers(seller)
    draft = await create_product(live_client, headers, "Cadeira de vime", status="draft")
    url = f"/api/products/{draft['id']}"

    original = service.get_visible_product
    slow_calls = [True]

    async def slow_first_read(*args: Any, **kwargs: Any) -> Product:
        product = await original(*args, **kwargs)
        if slow_calls and slow_calls.pop():
            # The PATCH sleeps between its read and its write, and the DELETE runs meanwhile.
            await asyncio.sleep(0.3)
        return product

    monkeypatch.setattr(service, "get_visible_product", slow_first_read)

    async def delete_later() -> httpx.Response:
        await asyncio.sleep(0.05)
        return await live_client.delete(url, headers=headers)

    patched, deleted = await asyncio.gather(
        live_client.patch(url, json={"status": "active"}, headers=headers), delete_later()
    )

    assert patched.status_code == 200
    assert deleted.status_code == 204
    async with session_scope() as session:
        status = await session.scalar(
            select(Product.status).where(Product.id == uuid.UUID(draft["id"]))
        )
    assert status == "deleted"

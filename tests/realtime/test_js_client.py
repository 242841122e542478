"""The stock JavaScript client (socket.io-client v4) against the gateway."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from taskgo.chat import service
from taskgo.db.session import session_scope
from tests.conftest import MakeUser

JS_DIR = Path(__file__).parent / "js"

pytestmark = [pytest.mark.usefixtures("live_chat"), pytest.mark.timeout(180)]


def _node_ready() -> str | None:
    """Return why the JS client cannot run, or None when it can."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are not installed"
    if (JS_DIR / "node_modules" / "socket.io-client").exists():
        return None
    installed = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],  # noqa: S607
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if installed.returncode != 0:
        return f"npm ci failed in {JS_DIR}: {installed.stderr.strip()[-300:]}"
    return None


async def test_js_client_chat(socket_server: str, make_live_user: MakeUser, token_for: Any) -> None:
    reason = _node_ready()
    if reason is not None:
        pytest.skip(reason)
    buyer = await make_live_user(name="Bruna")
    seller = await make_live_user(role="partner", name="Sérgio")
    async with session_scope() as session:
        conversation = await service.get_or_create_order_conversation(
            session, purchase_id=uuid.uuid4(), buyer_id=buyer.id, seller_id=seller.id
        )
    environment = {
        **os.environ,
        "TASKGO_URL": socket_server,
        "BUYER_TOKEN": token_for(buyer),
        "SELLER_TOKEN": token_for(seller),
        "CONVERSATION_ID": str(conversation.id),
    }

    process = await asyncio.create_subprocess_exec(
        "node",
        "client_check.mjs",
        cwd=JS_DIR,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    result = json.loads(stdout.decode().strip().splitlines()[-1])

    assert result["missingToken"]["data"] == {"code": "auth.missing_token"}
    assert result["missingToken"]["message"]
    assert result["badToken"]["data"]["code"].startswith("auth.")
    assert result["buyerJoin"] == {"ok": True}
    assert result["sellerJoin"] == {"ok": True}
    assert set(result["ack"]) == {
        "id",
        "conversationId",
        "clientMessageId",
        "createdAt",
        "duplicate",
    }
    assert result["invalid"]["error"]["code"] == "chat.body_empty"
    assert result["invalid"]["error"]["field"] == "body"
    assert len(result["received"]) == 1
    message = result["received"][0]
    assert message["id"] == result["ack"]["id"]
    assert message["body"] == "Olá do cliente JS ✓"
    assert message["senderId"] == str(buyer.id)
    assert result["buyerReceived"] == []
    assert result["buyerTransport"] == "websocket"

"""The python-socketio relay that the chat bench compares against (bench/python_relay.py)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import socketio
from bench.chat_targets import PythonRelay

pytestmark = pytest.mark.timeout(60)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _client(url: str, token: str) -> tuple[socketio.AsyncClient, asyncio.Queue[Any]]:
    client = socketio.AsyncClient(reconnection=False)
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    client.on("new_message", inbox.put_nowait)
    await client.connect(url, auth={"token": token}, transports=["websocket"])
    return client, inbox


async def test_relay_forwards_to_other_member() -> None:
    with PythonRelay(port=_free_port()) as relay:
        buyer, buyer_inbox = await _client(relay.url, "buyer-1")
        seller, seller_inbox = await _client(relay.url, "seller-1")
        try:
            for member in (buyer, seller):
                joined = await member.call("join_conversation", {"conversationId": "c1"})
                assert joined == {"ok": True}

            ack = await buyer.call(
                "send_message", {"conversationId": "c1", "body": "oi", "clientMessageId": "m1"}
            )
            delivered = await asyncio.wait_for(seller_inbox.get(), 5)
        finally:
            await buyer.disconnect()
            await seller.disconnect()

    assert ack["clientMessageId"] == "m1"
    assert ack["duplicate"] is False
    assert delivered["id"] == ack["id"]
    assert delivered["senderId"] == "buyer-1"
    assert delivered["body"] == "oi"
    assert buyer_inbox.empty()


async def test_relay_rejects_missing_token() -> None:
    with PythonRelay(port=_free_port()) as relay:
        client = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(relay.url, auth={}, transports=["websocket"])

"""Emit events the way a job worker does, from a process that serves no Socket.IO.

Run by test_multiprocess.py as `python -m tests.realtime.job_emitter BUYER_ID SELLER_ID`
with DATABASE_URL and REDIS_URL set. It notifies both users through the notification
pipeline (its `notification` events are sent after the commit, all in one Redis pipeline
by emit_each_now) and sends one `tracking_update` with emit_now, as a job that already
committed.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from taskgo.config import get_settings
from taskgo.db.session import close_database, init_database, session_scope
from taskgo.realtime import emit_now, user_room
from taskgo.realtime.emitter import close_external_emitter
from taskgo.realtime.server import is_attached


async def main(buyer_id: uuid.UUID, seller_id: uuid.UUID) -> None:
    from taskgo.notifications.service import notify

    assert not is_attached(), "a worker process must not serve Socket.IO"
    init_database(get_settings().database_url or "")
    try:
        async with session_scope() as session:
            await notify(
                session,
                user_ids=[buyer_id, seller_id],
                kind="chat_message",
                title_key="push.chat_message.title",
                body_key="push.chat_message.body",
                params={"sender": "Sistema", "body": "job"},
                data={"source": "job"},
                push=False,
            )
        delivered = await emit_now(
            "tracking_update",
            {"purchaseId": str(uuid.uuid4()), "status": "in_transit"},
            room=[user_room(buyer_id), user_room(seller_id)],
        )
        assert delivered, "emit_now found no way to reach the servers"
    finally:
        await close_external_emitter()
        await close_database()


if __name__ == "__main__":
    asyncio.run(main(uuid.UUID(sys.argv[1]), uuid.UUID(sys.argv[2])))

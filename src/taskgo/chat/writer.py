"""Batched writes for messages sent over Socket.IO.

Each message alone would cost a transaction (begin, pool check, write, commit), which is
most of the CPU a chat message uses. Sockets instead hand their messages to a writer that
stores whatever is waiting in one transaction. Under low load a batch contains one message,
so latency does not grow. Under high load the cost of a transaction is shared.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from taskgo.chat.sending import Outgoing, SentMessage, write_messages
from taskgo.db.session import session_scope
from taskgo.errors import AppError

log = structlog.get_logger(__name__)

# Upper bound of one batch; larger ones would hold conversation locks for longer.
MAX_BATCH = 200
# Transactions in flight at once per process, so that one slow batch does not stall all
# sockets. Each uses a connection from the database pool.
CONCURRENCY = 4

Pending = tuple[Outgoing, "asyncio.Future[SentMessage]"]


class MessageWriter:
    def __init__(self, *, max_batch: int = MAX_BATCH, concurrency: int = CONCURRENCY) -> None:
        self.max_batch = max_batch
        self.concurrency = concurrency
        self._queue: list[Pending] = []
        self._ready = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    async def send(self, outgoing: Outgoing) -> SentMessage:
        """Store one message with the next batch; raise AppError when it is rejected."""
        if self._closing:
            raise AppError("chat.unavailable", status=503)
        self._start()
        future: asyncio.Future[SentMessage] = asyncio.get_running_loop().create_future()
        async with self._ready:
            self._queue.append((outgoing, future))
            self._ready.notify()
        return await future

    def _start(self) -> None:
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._run(), name=f"chat-writer-{index}")
            for index in range(self.concurrency)
        ]

    async def _run(self) -> None:
        while True:
            async with self._ready:
                await self._ready.wait_for(lambda: bool(self._queue) or self._closing)
                if not self._queue:
                    return
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
            await self._write(batch)

    async def _write(self, batch: list[Pending]) -> None:
        try:
            async with session_scope() as session:
                outcomes = await write_messages(session, [outgoing for outgoing, _ in batch])
        except Exception as exc:
            if len(batch) > 1:
                # Write one by one, so that a message that breaks the batch fails alone.
                log.warning("chat.batch_failed", size=len(batch), error=repr(exc))
                for pending in batch:
                    await self._write([pending])
                return
            outgoing, future = batch[0]
            log.exception("chat.write_failed", conversation_id=str(outgoing.draft.conversation_id))
            _settle(future, exc)
            return

        for (_, future), outcome in zip(batch, outcomes, strict=True):
            _settle(future, outcome)

    async def close(self) -> None:
        """Write what is queued, then stop the writer tasks."""
        self._closing = True
        async with self._ready:
            self._ready.notify_all()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._closing = False


def _settle(future: asyncio.Future[SentMessage], outcome: SentMessage | BaseException) -> None:
    # The socket may have gone away meanwhile; its future is then cancelled.
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class _Writers:
    current: MessageWriter | None = None


_writers = _Writers()


def get_writer() -> MessageWriter:
    if _writers.current is None:
        _writers.current = MessageWriter()
    return _writers.current


async def close_writer() -> None:
    writer = _writers.current
    _writers.current = None
    if writer is not None:
        await writer.close()

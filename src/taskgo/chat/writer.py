"""Batched writes for messages sent over Socket.IO.

Sockets hand their messages to a writer that stores whatever is waiting with one
statement. Under low load a batch contains one message, so latency does not grow. Under
high load the cost of a round trip to PostgreSQL is shared by the whole batch.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from taskgo.chat.sending import Announcement, Outgoing, SentMessage, queue_pushes, write_direct
from taskgo.db.session import Database
from taskgo.errors import AppError

log = structlog.get_logger(__name__)

# Upper bound of one batch; larger ones would hold conversation locks for longer.
MAX_BATCH = 200
# Batches in flight at once per process, so that one slow batch does not stall all
# sockets. Each writer task keeps a connection from the database pool while it has work.
CONCURRENCY = 4
# A writer task with no work for this many seconds gives its connection back to the pool.
IDLE_SECONDS = 2.0

Pending = tuple[Outgoing, "asyncio.Future[SentMessage]"]


class _Lease:
    """A pooled connection that one writer task keeps between batches.

    Checking a connection out of the pool for every batch costs a liveness query and a
    reset, about as much CPU as the batch itself when it holds one message.
    """

    def __init__(self) -> None:
        self._connection: AsyncConnection | None = None

    @property
    def held(self) -> bool:
        return self._connection is not None

    async def driver(self) -> Any:
        if self._connection is None:
            engine = Database.engine
            if engine is None:
                raise RuntimeError("database not initialised: call init_database() first")
            self._connection = await engine.connect()
        raw = await self._connection.get_raw_connection()
        return raw.driver_connection

    async def release(self) -> None:
        # The pool checks a returned connection on its next checkout, so a broken one is
        # replaced there.
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()


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
        lease = _Lease()
        try:
            while True:
                batch = await self._next_batch(idle_seconds=IDLE_SECONDS if lease.held else None)
                if batch is None:
                    return
                if not batch:
                    await lease.release()
                    continue
                await self._write(batch, lease)
        finally:
            await lease.release()

    async def _next_batch(self, *, idle_seconds: float | None) -> list[Pending] | None:
        """Wait for work: a batch, [] after ``idle_seconds`` without any, None when closed."""
        async with self._ready:
            try:
                async with asyncio.timeout(idle_seconds):
                    await self._ready.wait_for(lambda: bool(self._queue) or self._closing)
            except TimeoutError:
                return []
            if not self._queue:
                return None
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            return batch

    async def _write(self, batch: list[Pending], lease: _Lease) -> None:
        try:
            connection = await lease.driver()
            outcomes, announcements = await write_direct(
                connection, [outgoing for outgoing, _ in batch]
            )
        except Exception as exc:
            await lease.release()
            if len(batch) > 1:
                # Write one by one, so that a message that breaks the batch fails alone.
                log.warning("chat.batch_failed", size=len(batch), error=repr(exc))
                for pending in batch:
                    await self._write([pending], lease)
                return
            outgoing, future = batch[0]
            log.exception("chat.write_failed", conversation_id=str(outgoing.draft.conversation_id))
            _settle(future, exc)
            return

        for (_, future), outcome in zip(batch, outcomes, strict=True):
            _settle(future, outcome)
        await self._push(announcements)

    async def _push(self, announcements: list[Announcement]) -> None:
        try:
            await queue_pushes(announcements)
        except Exception:
            # The messages are stored and announced; only the pushes of this batch are lost.
            log.exception("chat.push_failed", messages=len(announcements))

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

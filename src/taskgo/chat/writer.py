"""Batched writes for messages sent over Socket.IO.

Sockets hand their messages to a writer that checks the senders' rate limits and stores
whatever is waiting, with one Redis call and one statement per batch. Under low load a
batch contains one message, so latency does not grow. Under high load the cost of the
round trips to Redis and PostgreSQL is shared by the whole batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from taskgo.chat.ratelimit import take_message_tokens
from taskgo.chat.sending import (
    Announcement,
    Outgoing,
    SentMessage,
    outcomes_over_rate,
    queue_pushes,
    write_direct,
)
from taskgo.db.session import Database
from taskgo.errors import AppError, is_database_unavailable

log = structlog.get_logger(__name__)

# Upper bound of one batch; larger ones would hold conversation locks for longer.
MAX_BATCH = 200
# Writer tasks per process. One batch is normally in flight: whatever arrives meanwhile
# waits and goes into the next batch, so the cost of a statement and its commit is shared
# by more messages as the load grows. Each task keeps a connection from the database pool
# while it has work.
CONCURRENCY = 4
# The other tasks help only when the oldest waiting message has waited this long, so that
# one slow batch (a lock wait, a slow commit) does not stall every socket.
HELP_AFTER_SECONDS = 0.008
# A writer task with no work for this many seconds gives its connection back to the pool.
IDLE_SECONDS = 2.0

GENERIC_PLAN_SQL = "SET plan_cache_mode = force_generic_plan"
RESET_PLAN_SQL = "RESET plan_cache_mode"

# A queued message: what to store, who waits for the outcome, and when it was queued
# (event loop time).
Pending = tuple[Outgoing, "asyncio.Future[SentMessage]", float]


class _Lease:
    """A pooled connection that one writer task keeps between batches.

    Checking a connection out of the pool for every batch costs a liveness query and a
    reset, about as much CPU as the batch itself when it holds one message.

    While leased, the connection plans the write statement once (a generic plan). With
    PostgreSQL's default, each execution of the large statement was planned again for its
    array arguments, which doubled the database's CPU per one-message batch (0.78 against
    0.40 ms, measured on the development machine).
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
            connection = await engine.connect()
            try:
                driver = await _driver_of(connection)
                await driver.execute(GENERIC_PLAN_SQL)
            except BaseException:
                await _discard(connection)
                raise
            self._connection = connection
        return await _driver_of(self._connection)

    async def release(self) -> None:
        """Give the connection back to the pool with its planner setting restored.

        A connection that cannot be reset is dropped instead, so the pool never hands out
        one with this task's setting.
        """
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            driver = await _driver_of(connection)
            await driver.execute(RESET_PLAN_SQL)
        except Exception as exc:
            log.info("chat.writer_connection_dropped", error=repr(exc))
            await _discard(connection)
            return
        with contextlib.suppress(Exception):
            await connection.close()


async def _driver_of(connection: AsyncConnection) -> Any:
    raw = await connection.get_raw_connection()
    return raw.driver_connection


async def _discard(connection: AsyncConnection) -> None:
    with contextlib.suppress(Exception):
        await connection.invalidate()
    with contextlib.suppress(Exception):
        await connection.close()


class MessageWriter:
    def __init__(
        self,
        *,
        max_batch: int = MAX_BATCH,
        concurrency: int = CONCURRENCY,
        help_after: float = HELP_AFTER_SECONDS,
    ) -> None:
        self.max_batch = max_batch
        self.concurrency = concurrency
        self.help_after = help_after
        self._queue: list[Pending] = []
        # Set when the queue gets its first message or the writer closes. A task clears it
        # only after finding nothing to take, so no wake-up is lost. Messages that arrive
        # while a batch is in flight need no wake-up: the busy task takes them when its
        # batch is done, and waiting helpers look again when their timer runs out.
        self._wakeup = asyncio.Event()
        self._busy = 0
        # Conversations with a message in a batch that is being written. Another task does
        # not take their messages meanwhile (see ``_take``).
        self._in_flight: Counter[uuid.UUID] = Counter()
        # Statements run so far, failed ones included (for tests and diagnostics).
        self.statements = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    async def send(self, outgoing: Outgoing) -> SentMessage:
        """Store one message with the next batch; raise AppError when it is rejected."""
        if self._closing:
            raise AppError("chat.unavailable", status=503)
        self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[SentMessage] = loop.create_future()
        self._queue.append((outgoing, future, loop.time()))
        if len(self._queue) == 1:
            self._wakeup.set()
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
                self._busy += 1
                try:
                    allowed, limited = await _within_rate(batch)
                    announcements = await self._write(allowed, lease) if allowed else []
                    if limited:
                        await _answer_limited(limited, lease)
                except Exception as exc:
                    # Only a bug gets here. The senders get an error instead of waiting for
                    # ever, and this task goes on with the next batch.
                    log.exception("chat.writer_failed", size=len(batch))
                    for _, future, _ in batch:
                        _settle(future, exc)
                    announcements = []
                finally:
                    self._busy -= 1
                    self._release(batch)
                if self._queue and self._busy == 0:
                    # Messages queued during this batch; another task may take them while
                    # this one queues the pushes.
                    self._wakeup.set()
                await self._push(announcements)
        finally:
            await lease.release()

    async def _next_batch(self, *, idle_seconds: float | None) -> list[Pending] | None:
        """Wait for work: a batch, [] after ``idle_seconds`` without any, None when closed.

        A task takes the waiting messages when no other batch is in flight, or when the
        oldest has waited ``help_after`` seconds for the batches in flight. It leaves those
        of conversations that a batch in flight is writing (``_take``).
        """
        loop = asyncio.get_running_loop()
        while True:
            wait: float | None
            if self._queue:
                if self._busy == 0 or self._closing:
                    batch = self._take()
                    if batch:
                        return batch
                    # Closing with every queued conversation still in flight.
                    wait = self.help_after
                else:
                    wait = self._queue[0][2] + self.help_after - loop.time()
                    if wait <= 0:
                        batch = self._take()
                        if batch:
                            return batch
                        # Every waiting message is in a conversation being written, so look
                        # again later, or when a batch finishes and wakes the tasks.
                        wait = self.help_after
            elif self._closing:
                return None
            else:
                wait = idle_seconds
            self._wakeup.clear()
            try:
                async with asyncio.timeout(wait):
                    await self._wakeup.wait()
            except TimeoutError:
                if not self._queue:
                    return []

    def _take(self) -> list[Pending]:
        """Take up to ``max_batch`` waiting messages, in order, and mark their conversations.

        Messages of a conversation that is in a batch being written stay queued, so two
        batches never write the same conversation at once. Otherwise the later batch would
        wait for the earlier one's row lock. It could also send its `new_message` events
        first, out of ``createdAt`` order, for example while the earlier batch makes its
        extra round trip for resends.
        """
        if not self._in_flight:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
        else:
            batch = []
            waiting = []
            for pending in self._queue:
                if (
                    len(batch) < self.max_batch
                    and pending[0].draft.conversation_id not in self._in_flight
                ):
                    batch.append(pending)
                else:
                    waiting.append(pending)
            self._queue = waiting
        self._in_flight.update(_conversations(batch))
        return batch

    def _release(self, batch: list[Pending]) -> None:
        """Let other tasks take the messages of ``batch``'s conversations again."""
        for conversation_id in _conversations(batch):
            self._in_flight[conversation_id] -= 1
            if self._in_flight[conversation_id] <= 0:
                del self._in_flight[conversation_id]

    async def _write(
        self, batch: list[Pending], lease: _Lease, *, retry: bool = True
    ) -> list[Announcement]:
        """Store ``batch``, settle its futures, and return the messages to push."""
        self.statements += 1
        try:
            connection = await lease.driver()
            outcomes, announcements = await write_direct(
                connection, [outgoing for outgoing, _, _ in batch]
            )
        except Exception as exc:
            await lease.release()
            if is_database_unavailable(exc):
                if retry:
                    # A dropped connection: the batch goes again once, on a new connection.
                    log.warning("chat.batch_retried", size=len(batch), error=repr(exc))
                    return await self._write(batch, lease, retry=False)
                # Still no database: retrying each message would wait the pool timeout for
                # each in turn, so the whole batch fails and its senders send again later.
                log.error("chat.database_unavailable", size=len(batch), error=repr(exc))
                for _, future, _ in batch:
                    _settle(future, AppError("chat.unavailable", status=503))
                return []
            if len(batch) > 1:
                # Write one by one, so that a message that breaks the batch fails alone.
                log.warning("chat.batch_failed", size=len(batch), error=repr(exc))
                announced: list[Announcement] = []
                for pending in batch:
                    announced.extend(await self._write([pending], lease))
                return announced
            outgoing, future, _ = batch[0]
            log.exception("chat.write_failed", conversation_id=str(outgoing.draft.conversation_id))
            _settle(future, exc)
            return []

        for (_, future, _), outcome in zip(batch, outcomes, strict=True):
            _settle(future, outcome)
        return announcements

    async def _push(self, announcements: list[Announcement]) -> None:
        try:
            await queue_pushes(announcements)
        except Exception:
            # The messages are stored and announced; only the pushes of this batch are lost.
            log.exception("chat.push_failed", messages=len(announcements))

    async def close(self) -> None:
        """Write what is queued, then stop the writer tasks."""
        self._closing = True
        self._wakeup.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._closing = False


async def _within_rate(batch: list[Pending]) -> tuple[list[Pending], list[tuple[Pending, int]]]:
    """Take a message token for each sender in ``batch``, in order, with one Redis call.

    Returns the messages that got one, and the others with the milliseconds until their
    sender gets one.
    """
    try:
        waits = await take_message_tokens([outgoing.draft.sender_id for outgoing, _, _ in batch])
    except Exception:
        # Redis failures already fall back to local buckets. Anything else is a bug, and the
        # messages go through rather than wait for ever.
        log.exception("chat.rate_check_failed", size=len(batch))
        return batch, []
    allowed = []
    limited = []
    for pending, wait_ms in zip(batch, waits, strict=True):
        if wait_ms > 0:
            limited.append((pending, wait_ms))
        else:
            allowed.append(pending)
    return allowed, limited


async def _answer_limited(limited: list[tuple[Pending, int]], lease: _Lease) -> None:
    """Settle the messages over their senders' rate: a resend gets its stored message."""
    drafts = [(outgoing.draft, wait_ms) for (outgoing, _, _), wait_ms in limited]
    try:
        connection = await lease.driver()
    except Exception as exc:
        await lease.release()
        log.warning("chat.previous_lookup_failed", drafts=len(drafts), error=repr(exc))
        connection = None
    outcomes = await outcomes_over_rate(connection, drafts)
    for ((_, future, _), _), outcome in zip(limited, outcomes, strict=True):
        _settle(future, outcome)


def _conversations(batch: list[Pending]) -> list[uuid.UUID]:
    return [outgoing.draft.conversation_id for outgoing, _, _ in batch]


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

"""Load-generating worker of the chat bench: one process driving a share of the rooms.

The orchestrator (chat_bench.py) starts several of these with `multiprocessing`, sends them
rate steps through a queue and merges their results. Send times use CLOCK_MONOTONIC, which
is shared by all processes of the machine, so the orchestrator can start every worker's
step at the same instant.
"""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from bench.chat_client import BenchSocket

# The shortest wait between sends (see `_run_step`).
MIN_SLEEP_SECONDS = 0.001


@dataclass(frozen=True)
class Member:
    url: str
    auth: dict[str, Any]


@dataclass(frozen=True)
class Room:
    conversation_id: str
    members: tuple[Member, Member]


@dataclass(frozen=True)
class Step:
    rate: float  # messages per second sent by this worker
    start_ns: int  # CLOCK_MONOTONIC time at which the first message is sent
    duration: float  # seconds of sending
    drain: float  # seconds to wait for late deliveries after the last send


@dataclass
class StepResult:
    sent: int = 0
    delivered: int = 0
    duplicates: int = 0
    ack_errors: dict[str, int] = field(default_factory=dict)
    send_seconds: float = 0.0
    # Milliseconds from the send to the other member's `new_message`, one per delivery.
    latencies_ms: list[float] = field(default_factory=list)
    ack_latencies_ms: list[float] = field(default_factory=list)


class Worker:
    def __init__(self, worker_id: int, rooms: list[Room]) -> None:
        self.worker_id = worker_id
        self.rooms = rooms
        self.sockets: list[tuple[BenchSocket, BenchSocket]] = []
        self.sent_at: dict[int, int] = {}
        self.delivered: set[int] = set()
        self.result = StepResult()
        self._acks: set[asyncio.Task[None]] = set()

    def _on_event(self, event: str, data: Any) -> None:
        if event != "new_message" or not isinstance(data, dict):
            return
        received = time.monotonic_ns()
        seq = int(str(data["body"])[1:])
        sent = self.sent_at.pop(seq, None)
        if sent is None:
            if seq in self.delivered:
                self.result.duplicates += 1
            return
        self.delivered.add(seq)
        self.result.delivered += 1
        self.result.latencies_ms.append((received - sent) / 1e6)

    async def connect(self, http: aiohttp.ClientSession, *, parallel: int = 50) -> int:
        """Connect both members of every room and join them to it; return the socket count."""
        gate = asyncio.Semaphore(parallel)

        async def open_member(member: Member, conversation_id: str) -> BenchSocket:
            async with gate:
                socket = BenchSocket(http, member.url, on_event=self._on_event)
                await socket.connect(member.auth)
                reply = await socket.call("join_conversation", {"conversationId": conversation_id})
                if not isinstance(reply, dict) or reply.get("ok") is not True:
                    raise RuntimeError(f"join_conversation failed: {reply}")
                return socket

        async def open_room(room: Room) -> tuple[BenchSocket, BenchSocket]:
            first = await open_member(room.members[0], room.conversation_id)
            second = await open_member(room.members[1], room.conversation_id)
            return first, second

        self.sockets = list(await asyncio.gather(*(open_room(room) for room in self.rooms)))
        return 2 * len(self.sockets)

    async def _send(self, seq: int, room_index: int, direction: int) -> None:
        room = self.rooms[room_index]
        socket = self.sockets[room_index][direction]
        sent = time.monotonic_ns()
        self.sent_at[seq] = sent
        future = await socket.emit(
            "send_message",
            {
                "conversationId": room.conversation_id,
                "body": f"b{seq}",
                "clientMessageId": f"w{self.worker_id}-{seq}",
            },
        )
        self.result.sent += 1
        try:
            reply = await asyncio.wait_for(future, 30)
        except (TimeoutError, Exception) as exc:
            name = type(exc).__name__
            self.result.ack_errors[name] = self.result.ack_errors.get(name, 0) + 1
            return
        if isinstance(reply, dict) and "error" in reply:
            code = str(reply["error"].get("code"))
            self.result.ack_errors[code] = self.result.ack_errors.get(code, 0) + 1
            return
        self.result.ack_latencies_ms.append((time.monotonic_ns() - sent) / 1e6)

    async def run_step(self, step: Step, *, seq_base: int) -> StepResult:
        self.result = StepResult()
        self.sent_at.clear()
        self.delivered.clear()
        total = int(step.rate * step.duration)
        interval_ns = 1e9 / step.rate if step.rate > 0 else 0.0
        rooms = len(self.rooms)

        # A collection pause in the harness would be measured as server latency.
        gc.collect()
        gc.disable()
        try:
            return await self._run_step(
                step, seq_base=seq_base, total=total, interval_ns=interval_ns, rooms=rooms
            )
        finally:
            gc.enable()

    async def _run_step(
        self, step: Step, *, seq_base: int, total: int, interval_ns: float, rooms: int
    ) -> StepResult:
        delay = (step.start_ns - time.monotonic_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)

        # Open loop: each message has a fixed send time, whatever the server's pace, so a
        # slow server shows up as latency instead of a lower offered rate.
        index = 0
        while index < total:
            elapsed = time.monotonic_ns() - step.start_ns
            due = min(total, int(elapsed / interval_ns) + 1)
            while index < due:
                task = asyncio.create_task(
                    self._send(seq_base + index, index % rooms, (index // rooms) % 2)
                )
                self._acks.add(task)
                task.add_done_callback(self._acks.discard)
                index += 1
            next_at = step.start_ns + index * interval_ns
            # uvloop keeps timers in whole milliseconds and turns a sleep under 0.5 ms into a
            # busy loop, which took CPU from the server under test. Waking every millisecond
            # at most sends the messages due in each tick together. Every latency is still
            # measured from the message's own send time.
            await asyncio.sleep(max(MIN_SLEEP_SECONDS, (next_at - time.monotonic_ns()) / 1e9))
        self.result.send_seconds = (time.monotonic_ns() - step.start_ns) / 1e9

        deadline = time.monotonic() + step.drain
        # Polling keeps the receive path free of bookkeeping for this wait.
        while (self.sent_at or self._acks) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return self.result

    async def close(self) -> None:
        await asyncio.gather(
            *(socket.close() for pair in self.sockets for socket in pair), return_exceptions=True
        )


async def _serve(worker_id: int, rooms: list[Room], commands: Any, results: Any) -> None:
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as http:
        worker = Worker(worker_id, rooms)
        try:
            sockets = await worker.connect(http)
        except Exception as exc:
            results.put(("error", worker_id, repr(exc)))
            return
        results.put(("ready", worker_id, sockets))

        step_number = 0
        while True:
            command = await loop.run_in_executor(None, commands.get)
            if command[0] == "stop":
                break
            step: Step = command[1]
            seq_base = (worker_id * 1_000 + step_number) * 10_000_000
            step_number += 1
            outcome = await worker.run_step(step, seq_base=seq_base)
            results.put(("step", worker_id, outcome))
        await worker.close()


def worker_main(worker_id: int, rooms: list[Room], commands: Any, results: Any) -> None:
    """Entry point of a harness process."""
    import uvloop

    uvloop.run(_serve(worker_id, rooms, commands, results))

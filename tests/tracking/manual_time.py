"""A clock that moves only when code under test sleeps on it."""

from __future__ import annotations

import asyncio


class ManualTime:
    """Clock and sleep for `AsyncRateLimiter`, whose `clock` the Correios stand-in can share.

    A sleep adds to `now` at once and still yields to the event loop. A schedule of waits
    is therefore checked exactly and takes no real time, however loaded the machine is.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)

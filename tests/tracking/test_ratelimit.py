"""Token-bucket limiter timing: schedules on a manual clock, and a lower bound on real time."""

from __future__ import annotations

import time

import pytest

from taskgo.tracking.ratelimit import AsyncRateLimiter
from tests.tracking.manual_time import ManualTime


async def test_burst_then_steady_rate() -> None:
    fake = ManualTime()
    limiter = AsyncRateLimiter(rate=2.0, burst=3, clock=fake.clock, sleep=fake.sleep)

    for _ in range(7):
        await limiter.acquire()

    # Three requests leave at once, then one every half second.
    assert fake.sleeps == pytest.approx([0.5, 0.5, 0.5, 0.5])
    assert fake.now == pytest.approx(2.0)


async def test_idle_time_refills_to_burst_only() -> None:
    fake = ManualTime()
    limiter = AsyncRateLimiter(rate=1.0, burst=2, clock=fake.clock, sleep=fake.sleep)
    await limiter.acquire()
    await limiter.acquire()
    fake.now += 100

    for _ in range(3):
        await limiter.acquire()

    assert fake.sleeps == pytest.approx([1.0])


async def test_real_clock_never_releases_early() -> None:
    limiter = AsyncRateLimiter(rate=8.0, burst=1)
    started = time.monotonic()

    for _ in range(7):
        await limiter.acquire()

    # A lower bound only: a loaded machine makes the run slower, never faster.
    assert time.monotonic() - started >= 6 / 8


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_invalid_settings_raise(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        AsyncRateLimiter(rate=rate, burst=burst)

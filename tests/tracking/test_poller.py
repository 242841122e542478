"""The poll loop against the Correios stand-in: batching, backoff, pause and alerts.

These tests give the loop its own target list and record what it applies, so they
cover the loop without purchases. The state row lives in the test transaction.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.db.session import session_scope
from taskgo.tracking import poll_state
from taskgo.tracking.client import CorreiosClient, CorreiosCredentials, TrackingAnswer
from taskgo.tracking.poller import PollTarget, ShipmentPoller, TargetsByCode
from taskgo.tracking.settings import TrackingSettings
from tests.standins.correios import CorreiosStandin

START = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _code(index: int) -> str:
    from taskgo.tracking.codes import s10_check_digit

    serial = f"{index:08d}"
    return f"QP{serial}{s10_check_digit(serial)}BR"


class Harness:
    """Collaborators of the poller that a test can read afterwards."""

    def __init__(self, targets: list[PollTarget]) -> None:
        self.targets = targets
        self.applied: list[TrackingAnswer] = []
        self.alerts: list[tuple[int, str]] = []
        self.sleeps: list[float] = []
        self.now = START
        self.monotonic_now = 0.0

    async def list_targets(self, session: AsyncSession, now: datetime) -> list[PollTarget]:
        return self.targets

    async def apply_answer(
        self, session: AsyncSession, by_code: TargetsByCode, answer: TrackingAnswer, now: datetime
    ) -> int:
        self.applied.append(answer)
        return sum(len(tracked.events) for tracked in answer.objects.values())

    async def on_alert(self, session: AsyncSession, failures: int, error: str) -> None:
        self.alerts.append((failures, error))

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.monotonic_now += seconds


def _settings(**overrides: Any) -> TrackingSettings:
    values: dict[str, Any] = {
        "tracking_provider": "manual",
        "tracking_batch_size": 50,
        "tracking_max_attempts": 3,
        "tracking_backoff_base_seconds": 2.0,
        "tracking_backoff_max_seconds": 30.0,
        "tracking_alert_after_failures": 3,
        "tracking_failure_pause_max_minutes": 360,
    }
    values.update(overrides)
    return TrackingSettings(**values)


def _poller(
    harness: Harness, client: CorreiosClient, settings: TrackingSettings | None = None
) -> ShipmentPoller:
    return ShipmentPoller(
        client=client,
        settings=settings or _settings(),
        session_factory=session_scope,
        list_targets=harness.list_targets,
        apply_answer=harness.apply_answer,
        on_alert=harness.on_alert,
        clock=lambda: harness.now,
        sleep=harness.sleep,
        monotonic=lambda: harness.monotonic_now,
    )


def _targets(count: int) -> list[PollTarget]:
    return [
        PollTarget(shipment_id=uuid.uuid4(), purchase_id=uuid.uuid4(), tracking_code=_code(i))
        for i in range(count)
    ]


@pytest.fixture
async def client(correios: CorreiosStandin, correios_credentials: CorreiosCredentials) -> Any:
    async with CorreiosClient(base_url=correios.base_url, credentials=correios_credentials) as c:
        yield c


async def test_codes_sent_in_batches_of_fifty(
    db: AsyncSession, correios: CorreiosStandin, client: CorreiosClient
) -> None:
    harness = Harness(_targets(120))

    report = await _poller(harness, client).run()

    sizes = [len(request.codes) for request in correios.objects_requests()]
    assert sizes == [50, 50, 20]
    assert report.batches_done == 3
    assert report.shipments == 120
    assert not report.failed
    assert sum(len(answer.objects) for answer in harness.applied) == 120


async def test_shared_code_requested_once(
    db: AsyncSession, correios: CorreiosStandin, client: CorreiosClient
) -> None:
    # Two purchases shipped in one parcel carry the same code.
    shared = _code(7)
    targets = [
        PollTarget(shipment_id=uuid.uuid4(), purchase_id=uuid.uuid4(), tracking_code=shared)
        for _ in range(2)
    ]
    harness = Harness(targets)

    await _poller(harness, client).run()

    assert [request.codes for request in correios.objects_requests()] == [[shared]]


async def test_rate_limit_waits_retry_after(
    db: AsyncSession, correios: CorreiosStandin, client: CorreiosClient
) -> None:
    correios.fail_next(429, headers={"Retry-After": "3"})
    harness = Harness(_targets(2))

    report = await _poller(harness, client).run()

    assert harness.sleeps == [3.0]
    assert [request.status for request in correios.objects_requests()] == [429, 200]
    assert report.requests == 2
    assert not report.failed


async def test_server_errors_back_off_then_fail(
    db: AsyncSession, correios: CorreiosStandin, client: CorreiosClient
) -> None:
    correios.fail_next(503, times=3)
    harness = Harness(_targets(2))

    report = await _poller(harness, client).run()

    assert report.failed
    assert len(harness.sleeps) == 2
    # Base 2 s doubled per attempt, with up to 20 % jitter either way.
    assert 1.6 <= harness.sleeps[0] <= 2.4
    assert 3.2 <= harness.sleeps[1] <= 4.8
    assert harness.applied == []
    async with session_scope() as session:
        state = await poll_state.load(session)
        assert state.consecutive_failures == 1
        assert state.paused_until == START + timedelta(minutes=30)
        assert state.last_error is not None
        assert "CorreiosUnavailable" in state.last_error


async def test_long_retry_after_ends_run(
    db: AsyncSession, correios: CorreiosStandin, client: CorreiosClient
) -> None:
    correios.fail_next(429, headers={"Retry-After": "3600"})
    harness = Harness(_targets(1))

    report = await _poller(harness, client).run()

    assert report.failed
    assert harness.sleeps == []
    assert len(correios.objects_requests()) == 1


async def test_auth_failure_not_retried(
    db: AsyncSession, correios: CorreiosStandin, client: CorreiosClient
) -> None:
    correios.fail_next(403)
    harness = Harness(_targets(60))

    report = await _poller(harness, client).run()

    assert report.failed
    assert report.batches_done == 0
    assert harness.sleeps == []
    assert len(correios.objects_requests()) == 1


async def test_failure_keeps_finished_batches(
    db: AsyncSession, correios: CorreiosStandin, client: CorreiosClient
) -> None:
    harness = Harness(_targets(75))
    settings = _settings(tracking_batch_size=25, tracking_max_attempts=1)
    # The second objects request fails, after the first batch is stored.
    correios.fail_next(500, after=1)

    report = await _poller(harness, client, settings).run()

    assert report.failed
    assert report.batches_done == 1
    assert len(harness.applied) == 1
    assert [request.status for request in correios.objects_requests()] == [200, 500]


async def test_paused_run_is_skipped(
    db: AsyncSession, correios: CorreiosStandin, client: CorreiosClient
) -> None:
    correios.fail_next(503, times=3)
    harness = Harness(_targets(1))
    await _poller(harness, client).run()
    harness.now = START + timedelta(minutes=10)

    report = await _poller(harness, client).run()

    assert report.skipped_reason == "paused"
    assert len(correios.objects_requests()) == 3


async def test_alert_once_then_recover(
    db: AsyncSession, correios: CorreiosStandin, client: CorreiosClient
) -> None:
    harness = Harness(_targets(1))
    settings = _settings(tracking_max_attempts=1)
    pauses = []
    for _ in range(4):
        correios.fail_next(500)
        report = await _poller(harness, client, settings).run()
        assert report.failed
        async with session_scope() as session:
            state = await poll_state.load(session)
            assert state.paused_until is not None
            pauses.append(state.paused_until - harness.now)
            harness.now = state.paused_until + timedelta(seconds=1)

    assert pauses == [timedelta(minutes=30 * 2**n) for n in range(4)]
    assert len(harness.alerts) == 1
    assert harness.alerts[0][0] == 3

    report = await _poller(harness, client, settings).run()

    assert not report.failed
    async with session_scope() as session:
        state = await poll_state.load(session)
        assert state.consecutive_failures == 0
        assert state.paused_until is None
        assert state.alerted_at is None
        assert state.last_success_at == harness.now


async def test_pause_capped_at_maximum(
    db: AsyncSession, correios: CorreiosStandin, client: CorreiosClient
) -> None:
    harness = Harness(_targets(1))
    settings = _settings(tracking_max_attempts=1, tracking_failure_pause_max_minutes=45)
    for _ in range(3):
        correios.fail_next(500)
        await _poller(harness, client, settings).run()
        async with session_scope() as session:
            state = await poll_state.load(session)
            assert state.paused_until is not None
            pause = state.paused_until - harness.now
            harness.now = state.paused_until + timedelta(seconds=1)

    assert pause == timedelta(minutes=45)


async def test_run_budget_stops_new_batches(
    db: AsyncSession, correios: CorreiosStandin, client: CorreiosClient
) -> None:
    correios.fail_next(503)
    harness = Harness(_targets(30))
    # The backoff sleep of the first batch uses up the budget.
    settings = _settings(tracking_batch_size=10, tracking_run_budget_seconds=1.0)

    report = await _poller(harness, client, settings).run()

    assert report.batches_done == 1
    assert not report.failed
    assert len(correios.objects_requests()) == 2

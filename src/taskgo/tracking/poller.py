"""The Correios poll run: batches of shipped parcels, rate-limited, with backoff and alerts.

One run reads the unfinished Correios shipments, requests their events from SRO in
batches and stores what is new, one transaction per batch, so a failure keeps the batches already
done. HTTP requests run outside any database transaction.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.tracking import poll_state
from taskgo.tracking.client import (
    CorreiosAuthError,
    CorreiosClient,
    CorreiosError,
    CorreiosRateLimited,
    CorreiosRequestRejected,
    TrackingAnswer,
)
from taskgo.tracking.settings import TrackingSettings

logger = structlog.get_logger(__name__)

SessionFactory = Callable[[], AbstractAsyncContextManager[AsyncSession]]
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class PollTarget:
    shipment_id: uuid.UUID
    purchase_id: uuid.UUID
    tracking_code: str


@dataclass(slots=True)
class PollReport:
    """Counts from one poll run, logged at its end and returned to tests."""

    skipped_reason: str | None = None
    shipments: int = 0
    batches_done: int = 0
    requests: int = 0
    new_events: int = 0
    batches_failed: int = 0
    failed: bool = False
    errors: list[str] = field(default_factory=list)


TargetsByCode = dict[str, list["PollTarget"]]
ApplyAnswer = Callable[[AsyncSession, TargetsByCode, TrackingAnswer, datetime], Awaitable[int]]
ListTargets = Callable[[AsyncSession, datetime], Awaitable[list[PollTarget]]]


class ShipmentPoller:
    """Runs one poll over every pollable shipment; see the module docstring."""

    def __init__(
        self,
        *,
        client: CorreiosClient,
        settings: TrackingSettings,
        session_factory: SessionFactory,
        list_targets: ListTargets,
        apply_answer: ApplyAnswer,
        on_alert: Callable[[AsyncSession, int, str], Awaitable[None]],
        clock: Clock,
        sleep: Sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._settings = settings
        self._session_factory = session_factory
        self._list_targets = list_targets
        self._apply_answer = apply_answer
        self._on_alert = on_alert
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic

    async def run(self) -> PollReport:
        report = PollReport()
        now = self._clock()
        async with self._session_factory() as session:
            state = await poll_state.load(session)
            if state.paused_until is not None and state.paused_until > now:
                report.skipped_reason = "paused"
                logger.info("tracking.poll.skipped", paused_until=state.paused_until.isoformat())
                return report

        try:
            await self._poll(report, now)
        except CorreiosError as exc:
            report.failed = True
            report.errors.append(_describe(exc))
            logger.error(
                "tracking.poll.failed",
                error=_describe(exc),
                batches_done=report.batches_done,
                shipments=report.shipments,
            )
        except Exception as exc:
            # Not Correios's doing (the database, a defect): still a failed run, so that the
            # streak grows and the admins hear of it when it repeats.
            report.failed = True
            report.errors.append(_describe(exc))
            logger.exception(
                "tracking.poll.failed",
                error=_describe(exc),
                batches_done=report.batches_done,
                shipments=report.shipments,
            )

        await self._record_outcome(report)
        logger.info(
            "tracking.poll.finished",
            shipments=report.shipments,
            batches_done=report.batches_done,
            requests=report.requests,
            new_events=report.new_events,
            batches_failed=report.batches_failed,
            failed=report.failed,
        )
        return report

    async def _poll(self, report: PollReport, now: datetime) -> None:
        """List the shipments, then fetch and store their events batch by batch."""
        async with self._session_factory() as session:
            targets = await self._list_targets(session, now)

        report.shipments = len(targets)
        logger.info("tracking.poll.started", shipments=len(targets))
        started = self._monotonic()
        async for batch, answer in self._fetch_batches(targets, report, started):
            by_code: dict[str, list[PollTarget]] = {}
            for target in batch:
                by_code.setdefault(target.tracking_code, []).append(target)
            try:
                async with self._session_factory() as session:
                    report.new_events += await self._apply_answer(
                        session, by_code, answer, self._clock()
                    )
            except Exception as exc:
                # Correios replied, so one batch that cannot be stored must not stop the
                # others. Its shipments stay first in line for the next run.
                report.batches_failed += 1
                report.errors.append(f"batch not stored: {type(exc).__name__}")
                logger.exception(
                    "tracking.poll.batch_failed",
                    codes=sorted(by_code),
                    batches_done=report.batches_done,
                )
                continue
            report.batches_done += 1

    async def _fetch_batches(
        self, targets: Sequence[PollTarget], report: PollReport, started: float
    ) -> AsyncIterator[tuple[list[PollTarget], TrackingAnswer]]:
        size = self._settings.tracking_batch_size
        codes_in_order = list(dict.fromkeys(target.tracking_code for target in targets))
        for offset in range(0, len(codes_in_order), size):
            if self._monotonic() - started > self._settings.tracking_run_budget_seconds:
                logger.warning(
                    "tracking.poll.budget_exhausted",
                    remaining_codes=len(codes_in_order) - offset,
                )
                return
            codes = set(codes_in_order[offset : offset + size])
            batch = [target for target in targets if target.tracking_code in codes]
            answer = await self._fetch_with_retries(sorted(codes), report)
            yield batch, answer

    async def _fetch_with_retries(self, codes: list[str], report: PollReport) -> TrackingAnswer:
        """Fetch one batch, backing off after 429 and 5xx; auth errors end the run at once."""
        attempts = self._settings.tracking_max_attempts
        for attempt in range(1, attempts + 1):
            report.requests += 1
            try:
                return await self._client.fetch_objects(codes)
            except (CorreiosAuthError, CorreiosRequestRejected):
                raise
            except CorreiosError as exc:
                if attempt == attempts:
                    raise
                delay = self._backoff_delay(attempt, exc)
                if delay is None:
                    raise
                logger.warning(
                    "tracking.poll.retrying",
                    attempt=attempt,
                    delay_seconds=round(delay, 2),
                    error=_describe(exc),
                )
                await self._sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")

    def _backoff_delay(self, attempt: int, exc: CorreiosError) -> float | None:
        """Return the exponential backoff with jitter, or ``None`` when Retry-After is longer."""
        cap = self._settings.tracking_backoff_max_seconds
        if isinstance(exc, CorreiosRateLimited) and exc.retry_after is not None:
            return exc.retry_after if exc.retry_after <= cap else None
        base = self._settings.tracking_backoff_base_seconds * 2 ** (attempt - 1)
        return min(cap, base * random.uniform(0.8, 1.2))

    async def _record_outcome(self, report: PollReport) -> None:
        now = self._clock()
        async with self._session_factory() as session:
            state = await poll_state.load(session, for_update=True)
            if not report.failed:
                poll_state.record_success(state, now=now)
                return
            poll_state.record_failure(
                state,
                now=now,
                error=report.errors[-1],
                max_pause=timedelta(minutes=self._settings.tracking_failure_pause_max_minutes),
            )
            if (
                state.consecutive_failures >= self._settings.tracking_alert_after_failures
                and state.alerted_at is None
            ):
                state.alerted_at = now
                logger.error(
                    "tracking.poll.alert",
                    consecutive_failures=state.consecutive_failures,
                    error=report.errors[-1],
                )
                await self._on_alert(session, state.consecutive_failures, report.errors[-1])


def _describe(exc: Exception) -> str:
    """Name and first line of an error, for the state row, logs and the admin alert.

    Only the first line: database errors go on with the SQL statement and its values.
    """
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]

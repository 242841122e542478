"""Garbage collector tuning at start-up (taskgo.runtime)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from taskgo.config import Settings
from taskgo.runtime import tune_garbage_collector


@pytest.fixture
def saved_thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_app_startup_tunes_collector(asgi_app: Any, settings: Settings) -> None:
    # The suite's app started with the default setting.
    assert settings.gc_young_threshold == 50_000
    assert gc.get_threshold()[0] == 50_000
    # Start-up's long-lived objects (modules, SDKs, the city index) were moved out of the
    # collected generations.
    assert gc.get_freeze_count() > 10_000


@pytest.mark.usefixtures("saved_thresholds")
def test_tuning_freezes_existing_objects() -> None:
    gc.set_threshold(700, 11, 12)
    long_lived = [["created before tuning"]]

    tune_garbage_collector(1_234)

    assert gc.get_threshold() == (1_234, 11, 12)
    assert all(item is not long_lived for item in gc.get_objects())
    created_after = [["created after tuning"]]
    assert any(item is created_after for item in gc.get_objects())


def test_churn_not_promoted_after_tuning(saved_thresholds: None) -> None:
    # With Python's default, each young collection promotes the requests in flight, and
    # they reach the oldest generation. With the raised threshold, 20,000 of them come and
    # go without a collection.
    def promoted_by_churn() -> int:
        gc.collect()
        before = len(gc.get_objects(generation=2))
        in_flight: list[dict[str, object]] = []
        for index in range(20_000):
            # Like a request's objects (a task and its future, an exception and its
            # traceback), each refers to itself, so only the collector frees it.
            request: dict[str, object] = {"index": index}
            request["self"] = request
            in_flight.append(request)
            if len(in_flight) > 1_000:
                in_flight.pop(0)
        return len(gc.get_objects(generation=2)) - before

    gc.set_threshold(700, 10, 10)
    with_default = promoted_by_churn()
    tune_garbage_collector(50_000)
    with_tuning = promoted_by_churn()

    assert with_default > 1_000
    assert with_tuning < 100


def test_threshold_setting_bounds() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Settings(gc_young_threshold=0)
    assert Settings(gc_young_threshold=100).gc_young_threshold == 100

"""A server process keeps what start-up built out of the garbage collector's sight and makes
full collections rare: with 2,000 long polls held each one stopped the process for ~1 s
(bench/long_polls.py); it times every collection (bench/service_day.py reads them)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from flexrec.cli.serve import GC_THRESHOLDS, quiet_collector


@pytest.fixture
def collector() -> Iterator[None]:
    before, hooks = gc.get_threshold(), list(gc.callbacks)
    yield
    gc.unfreeze()
    gc.set_threshold(*before)
    gc.callbacks[:] = hooks


@pytest.mark.usefixtures("collector")
def test_start_up_is_frozen_and_full_collections_are_rare() -> None:
    gc.unfreeze()
    quiet_collector()
    assert gc.get_freeze_count() > 10_000  # the modules, classes and app of start-up
    assert gc.get_threshold() == GC_THRESHOLDS
    assert GC_THRESHOLDS[2] >= 100 * 10  # full collections 100 times rarer than the default


def _collections(generation: int, sample: str = "count") -> float:
    value = REGISTRY.get_sample_value(
        f"flexrec_gc_pause_seconds_{sample}", {"generation": str(generation)}
    )
    return value or 0.0


@pytest.mark.usefixtures("collector")
def test_every_collection_is_timed_by_generation_once() -> None:
    quiet_collector()
    quiet_collector()  # called again (a web process after its supervisor): still one hook
    gc.disable()  # no collection of its own between the reads
    try:
        before = [_collections(g) for g in range(3)]
        full_s = _collections(2, "sum")
        gc.collect(2)
        gc.collect(0)
        gc.collect(0)
        assert [_collections(g) - b for g, b in enumerate(before)] == [2, 0, 1]
    finally:
        gc.enable()
    assert _collections(2, "sum") > full_s  # a full collection takes time

"""A server process keeps what start-up built out of the garbage collector's sight and makes
full collections rare: with 2,000 long polls held each one stopped the process for ~1 s
(bench/long_polls.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from flexrec.cli.serve import GC_THRESHOLDS, quiet_collector


@pytest.fixture
def collector() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("collector")
def test_start_up_is_frozen_and_full_collections_are_rare() -> None:
    gc.unfreeze()
    quiet_collector()
    assert gc.get_freeze_count() > 10_000  # the modules, classes and app of start-up
    assert gc.get_threshold() == GC_THRESHOLDS
    assert GC_THRESHOLDS[2] >= 100 * 10  # full collections 100 times rarer than the default

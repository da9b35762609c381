"""The recording service on fakes with the default policy (modules override `h` for others).

Every test here also checks the single-writer rule: only flexrec.recording.transitions writes
`recording_targets` (target_writers.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from recording_harness import Harness
from target_writers import watch_target_writers


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    harness.close()


@pytest.fixture(autouse=True)
def only_transitions_write_targets(request: pytest.FixtureRequest) -> Iterator[None]:
    with watch_target_writers() as offenders:
        yield
    if getattr(request.function, "writes_targets_on_purpose", False):
        return  # the test of the guard itself
    assert not offenders, f"recording_targets written outside recording.transitions: {offenders}"

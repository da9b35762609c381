"""The recording service on fakes with the default policy (modules override `h` for others)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from recording_harness import Harness


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    harness.close()

"""Fixtures shared by the demo's unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flexrec.db.base import Base, make_engine


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    """A SQLite file with the service's tables, by URL."""
    url = f"sqlite:///{tmp_path / 'service.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    yield url
    engine.dispose()

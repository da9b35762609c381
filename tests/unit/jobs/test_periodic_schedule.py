"""Periodic jobs run as often as asked, also beyond an hour (the daily verify)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from flexrec.jobs.queue import periodic_schedule


def _runs_in_a_day(every_minutes: int) -> list[datetime]:
    schedule = periodic_schedule(every_minutes)
    start = datetime(2026, 3, 4, 0, 0)
    return [
        start + timedelta(minutes=m) for m in range(1440) if schedule(start + timedelta(minutes=m))
    ]


def test_every_n_minutes_hours_or_a_day() -> None:
    assert len(_runs_in_a_day(15)) == 96
    assert len(_runs_in_a_day(60)) == 24
    assert [r.hour for r in _runs_in_a_day(360)] == [0, 6, 12, 18]
    # `minute="*/1440"` alone would have run hourly: once a day means once a day.
    assert _runs_in_a_day(1440) == [datetime(2026, 3, 4, 0, 0)]


def test_a_period_that_is_not_whole_hours_is_refused() -> None:
    with pytest.raises(ValueError, match="whole hours"):
        periodic_schedule(90)

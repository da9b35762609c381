"""The period typed on the command line: whole UTC days, ISO moments, one-line errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flexrec.coverage.period import PeriodError, parse_period


def test_a_date_is_a_whole_utc_day_and_until_includes_its_day() -> None:
    day = parse_period("2026-03-03")
    assert (day.since, day.until) == (
        datetime(2026, 3, 3, tzinfo=UTC),
        datetime(2026, 3, 4, tzinfo=UTC),
    )
    assert day.describe() == "2026-03-03"
    week = parse_period("2026-03-02", "2026-03-08")
    assert week.until == datetime(2026, 3, 9, tzinfo=UTC)
    assert (week.first_day.isoformat(), week.last_day.isoformat()) == ("2026-03-02", "2026-03-08")


def test_moments_are_read_in_utc_and_until_excludes_its_moment() -> None:
    shift = parse_period("2026-03-03T09:00+01:00", "2026-03-03T17:00")
    assert shift.since == datetime(2026, 3, 3, 8, tzinfo=UTC)
    assert shift.until == datetime(2026, 3, 3, 17, tzinfo=UTC)
    assert shift.holds(int(shift.since.timestamp() * 1000))
    assert not shift.holds(int(shift.until.timestamp() * 1000))


@pytest.mark.parametrize(
    ("since", "until", "says"),
    [
        ("2026-13-01", None, "--since '2026-13-01' is not a date or time: use YYYY-MM-DD"),
        ("yesterday", None, "is not a date or time"),
        ("2026-03-03", "2026-03-02", "is not after --since"),
        ("2026-03-03", "9999-12-31", "--until '9999-12-31' is out of range"),
        ("0001-01-01T00:00+01:00", None, "out of range"),
        ("2026-01-01", "2026-12-31", "ask for at most 93 days"),
    ],
)
def test_a_bad_period_is_one_line_saying_what_to_type(
    since: str, until: str | None, says: str
) -> None:
    with pytest.raises(PeriodError) as caught:
        parse_period(since, until)
    assert says in str(caught.value) and "\n" not in str(caught.value)

"""The largest numbers and dates accepted from outside, in one place.

Anything past these is no real request: it would overflow a database column (a 32-bit integer
on PostgreSQL, 64 bits on SQLite) or a date computation, which used to answer 500.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

INT32_MAX = 2**31 - 1  # integer columns (counts, durations, channels, error codes)
INT64_MAX = 2**63 - 1  # big integer columns and orderings (sequence numbers, epoch ms)
MAX_OFFSET = 1_000_000_000  # rows skipped by a listing
MAX_PAGE = 1_000_000  # page numbers (times the page size, still far inside MAX_OFFSET's type)
MAX_DATE = date(9999, 12, 30)  # an inclusive end date: the day after must still exist


class OutOfRange(ValueError):
    """A value from outside past these bounds (the web layer answers 400)."""


def utc_moment(value: datetime) -> datetime:
    """`value` in UTC (naive read as UTC), or OutOfRange when UTC has no such moment.

    E.g. 0001-01-01T00:00+01:00 lies before year 1 in UTC; comparing naive and aware times
    raises too, so every moment from a query goes through here first.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise OutOfRange(f"{value.isoformat()} is out of range") from None

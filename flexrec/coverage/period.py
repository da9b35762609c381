"""The period a coverage report covers, read from what a person types: one rule for CLI and web.

`--since` and `--until` take a date (`2026-03-03`: a whole UTC day; `--until` includes the day
named) or an ISO 8601 moment (`2026-03-03T09:00Z`, `2026-03-03T10:00+01:00`; naive = UTC,
`--until` excludes the moment). Anything else is a `PeriodError` whose message says what to type.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flexrec.bounds import MAX_DATE, OutOfRange, utc_moment

MAX_DAYS = 93  # a quarter: an audit period, and a bound on what one report asks Twilio for
EXAMPLE = "YYYY-MM-DD (a whole UTC day) or an ISO 8601 time such as 2026-03-03T09:00Z"


class PeriodError(ValueError):
    """The period cannot be read; the message is the line to show."""


@dataclass(frozen=True)
class Period:
    """[since, until) in UTC."""

    since: datetime
    until: datetime

    @property
    def first_day(self) -> date:
        """The UTC day `since` falls on."""
        return self.since.date()

    @property
    def last_day(self) -> date:
        """The UTC day holding the period's last moment."""
        return (self.until - timedelta(microseconds=1)).date()

    def holds(self, epoch_ms: int | None) -> bool:
        """True when the moment falls inside the period."""
        if epoch_ms is None:
            return False
        return self.since.timestamp() * 1000 <= epoch_ms < self.until.timestamp() * 1000

    @classmethod
    def day(cls, day: date) -> Period:
        """One whole UTC day."""
        start = datetime.combine(day, time(0), tzinfo=UTC)
        return cls(start, start + timedelta(days=1))

    def describe(self) -> str:
        """The period in words, e.g. `2026-03-03` or `2026-03-03 09:00 to 2026-03-03 17:00 UTC`."""
        if self.since.time() == time(0) and self.until.time() == time(0):
            if self.until - self.since == timedelta(days=1):
                return self.first_day.isoformat()
            return f"{self.first_day.isoformat()} to {self.last_day.isoformat()}"
        fmt = "%Y-%m-%d %H:%M:%S"
        return f"{self.since.strftime(fmt)} to {self.until.strftime(fmt)} UTC"


def _moment(option: str, value: str, *, end: bool) -> datetime:
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            if end:
                if day > MAX_DATE:
                    raise OutOfRange(text)
                day += timedelta(days=1)  # an end date includes its whole day
            return datetime.combine(day, time(0), tzinfo=UTC)
        return utc_moment(datetime.fromisoformat(text.replace("z", "Z")))
    except OutOfRange:
        raise PeriodError(f"{option} {value!r} is out of range") from None
    except (ValueError, OverflowError):
        raise PeriodError(f"{option} {value!r} is not a date or time: use {EXAMPLE}") from None


def parse_moment(option: str, value: str, *, end: bool = False) -> datetime:
    """One end of a period as typed (`end=True`: a date includes its whole day); `PeriodError`
    naming `option` when it cannot be read (also used by `flexrec audit`)."""
    return _moment(option, value, end=end)


def parse_period(since: str, until: str | None = None) -> Period:
    """The period from `--since` and `--until` (None: to the end of `since`'s day)."""
    start = _moment("--since", since, end=False)
    if until is None:
        stop = datetime.combine(start.date() + timedelta(days=1), time(0), tzinfo=UTC)
    else:
        stop = _moment("--until", until, end=True)
    if stop <= start:
        raise PeriodError(
            f"--until ({until}) is not after --since ({since}): the period would be empty"
        )
    if stop - start > timedelta(days=MAX_DAYS):
        raise PeriodError(
            f"the period is {(stop - start).days} days long; ask for at most {MAX_DAYS} days "
            "per report (run one report per month)"
        )
    return Period(start, stop)

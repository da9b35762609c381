"""When flexrec was down, on Twilio's clock: its processes' runs, between which nothing answered.

The service is up while at least one of its web processes answers webhooks: from a run's
`answering_at` to its end (a clean stop, or the last sign of life the process that found it
gone wrote), or to now while it still beats. An outage is a stretch between two such spans, or
after the last one when nothing beats any more. Before the first run flexrec was not installed,
which is no outage.

Runs are timed on flexrec's clock, call legs on Twilio's. On a real account the two are the
same; a simulator's clock may run faster. `ClockMap.fit` places one on the other from the
moments both clocks saw: each recording flexrec started (Twilio's start time; when flexrec
stored it), robust to the few it adopted long after they began. Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from statistics import median

MIN_FIT_SPAN_S = 60.0  # moments closer than this in time say nothing about the clocks' rates
SAME_RATE = 0.01  # a fitted rate this close to 1 is the same clock (a real account)
# A run that beat this recently still runs (it beats every second; a busy machine may stall it
# for a few). One that stopped beating longer ago is gone, though nobody has reaped it yet.
LIVE_WITHIN = timedelta(seconds=10)


@dataclass(frozen=True)
class RunSpan:
    """One process run as flexrec wrote it (flexrec's clock)."""

    answering_at: datetime | None  # None: it never took webhooks (a worker, a CLI command)
    alive_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class Outage:
    """A stretch during which no flexrec process answered (epoch ms, Twilio's clock)."""

    start_ms: int
    end_ms: int | None  # None: still down when the report was made

    def overlap_ms(self, start_ms: int, end_ms: int) -> int:
        """How much of [start_ms, end_ms) it covers."""
        end = end_ms if self.end_ms is None else min(end_ms, self.end_ms)
        return max(0, end - max(start_ms, self.start_ms))

    def describe(self) -> str:
        """The window as an auditor reads it: 03:12:04-03:12:09 UTC."""
        start = _time_of_day(self.start_ms)
        if self.end_ms is None:
            return f"from {start} UTC"
        return f"{start}-{_time_of_day(self.end_ms)} UTC"


def _time_of_day(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%H:%M:%S")


@dataclass(frozen=True)
class ClockMap:
    """Twilio's clock as a linear function of flexrec's: twilio = rate * flexrec + offset."""

    rate: float = 1.0
    offset_s: float = 0.0

    def twilio_ms(self, moment: datetime) -> int:
        """`moment` (flexrec's clock) on Twilio's clock, epoch ms."""
        return round((self.rate * moment.timestamp() + self.offset_s) * 1000)

    @classmethod
    def fit(cls, pairs: Iterable[tuple[datetime, int]]) -> ClockMap:
        """The map from moments seen on both clocks: (flexrec's datetime, Twilio's epoch ms).

        The rate is the median slope between the earlier and the later half of the moments;
        the offset is the median of what is left. Few moments, or moments close together,
        say nothing of the rate: it is then 1, as on every real account."""
        points = sorted((moment.timestamp(), twilio_ms / 1000.0) for moment, twilio_ms in pairs)
        if not points:
            return cls()
        rate = 1.0
        span = points[-1][0] - points[0][0]
        if len(points) >= 2 and span >= MIN_FIT_SPAN_S:
            half = len(points) // 2
            slopes = [
                (y2 - y1) / (x2 - x1)
                for (x1, y1), (x2, y2) in zip(points[:half], points[-half:], strict=True)
                if x2 - x1 >= span / 4
            ]
            if slopes:
                rate = median(slopes)
        if abs(rate - 1.0) <= SAME_RATE or rate <= 0:
            rate = 1.0
        return cls(rate, median(y - rate * x for x, y in points))


def _up_until(run: RunSpan, now: datetime, live_within: timedelta) -> datetime:
    if run.ended_at is not None:
        return max(run.ended_at, run.alive_at)
    if run.alive_at >= now - live_within:
        return now  # still beating: up to this moment
    return run.alive_at  # gone without a word, and nobody has noticed yet


def outages(
    runs: Sequence[RunSpan],
    clock: ClockMap,
    now: datetime,
    live_within: timedelta = LIVE_WITHIN,
) -> list[Outage]:
    """The stretches no run answered, between the first run's start and now (Twilio's clock)."""
    spans = sorted(
        (run.answering_at, _up_until(run, now, live_within))
        for run in runs
        if run.answering_at is not None
    )
    merged: list[tuple[datetime, datetime]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    found = [
        Outage(clock.twilio_ms(gone), clock.twilio_ms(back))
        for (_, gone), (back, _) in pairwise(merged)
    ]
    if merged and merged[-1][1] < now:
        found.append(Outage(clock.twilio_ms(merged[-1][1]), None))
    return found


def down_ms(outages_: Iterable[Outage], start_ms: int, end_ms: int) -> int:
    """How long the service was down within [start_ms, end_ms) (outages never overlap)."""
    return sum(o.overlap_ms(start_ms, end_ms) for o in outages_)


def overlapping(outages_: Iterable[Outage], start_ms: int, end_ms: int) -> list[Outage]:
    """The outages that cover some of [start_ms, end_ms)."""
    return [o for o in outages_ if o.overlap_ms(start_ms, end_ms) > 0]

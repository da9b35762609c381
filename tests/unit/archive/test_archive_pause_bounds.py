"""A `skip` point placed from the requests that bound it: at the latest moment they allow,
with how much earlier it may be; without bounds, or with bounds that cannot be trusted, as
before (from StartTime and the rows' `created_at`, the stage's fixed second)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flexrec.archive.pauses import LATE_MAX_MS, PauseGap, pause_gaps, start_bounds
from flexrec.db.models import PauseEvent

# StartTime: a whole second; the recording really began 700 ms into it.
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
BEGAN_MS = int(T0.timestamp() * 1000) + 700


def _at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def _event(
    action: str, result: str, sent_ms: int | None, applied_ms: int, answered_ms: int
) -> PauseEvent:
    """A row as `finish` writes it: created after the answer, bounded by send and answer."""
    return PauseEvent(
        task_sid="WT" + "1" * 32,
        actor="alice",
        action=action,
        result=result,
        created_at=_at(answered_ms + 20),
        sent_at=None if sent_ms is None else _at(sent_ms),
        answered_at=None if sent_ms is None else _at(answered_ms),
    )


def test_a_bounded_point_is_placed_by_its_round_trips_not_startime() -> None:
    # create sent at 0.6 s, answered at 0.85 s: the recording began between (at 0.7 s)
    started = start_bounds(T0, BEGAN_MS - 100, BEGAN_MS + 150)
    assert started == (BEGAN_MS - 100, BEGAN_MS + 150)
    # Twilio applied the pause at 10.7 s and the resume at 14.7 s (0.1 s into each trip)
    events = [
        _event("pause", "paused", 10_600, 10_700, 10_850),
        _event("resume", "recording", 14_600, 14_700, 14_850),
        _event("pause", "paused", 30_600, 30_700, 30_800),
        _event("resume", "recording", 31_600, 31_700, 31_800),
    ]
    gaps = pause_gaps(events, T0, 50_000, "skip", started)
    # truth: 10.0 s into the file, then 30.0 - 4.0 = 26.0 s
    (first, second) = gaps
    assert first.start_ms == first.end_ms == 10_850 - 600  # the latest: 250 ms late
    assert first.late_ms == 250 + 250  # both round trips
    assert first.start_ms - first.late_ms <= 10_000 <= first.start_ms
    assert second.start_ms - second.late_ms <= 26_000 <= second.start_ms
    assert second.late_ms == 250 + 200 + 250 + 250  # start, pause, the first pause and resume
    # before, StartTime and `created_at` put the first a whole second late
    before = pause_gaps(events, T0, 50_000, "skip")
    assert before[0].start_ms == 10_870 and before[0].late_ms is None


def test_a_point_without_every_bound_is_placed_as_before() -> None:
    started = start_bounds(T0, BEGAN_MS - 100, BEGAN_MS + 150)
    unbounded_pause = [
        _event("pause", "paused", None, 10_700, 10_850),
        _event("resume", "recording", 14_600, 14_700, 14_850),
        _event("pause", "paused", 30_600, 30_700, 30_800),
    ]
    gaps = pause_gaps(unbounded_pause, T0, 50_000, "skip", started)
    # the second point's place depends on the first pause's skipped time: unbounded too
    assert [g.late_ms for g in gaps] == [None, None]
    assert gaps[0] == PauseGap(10_870, 10_870, 4_000)
    # an adopted recording (no create of ours): StartTime alone
    bounded = [_event("pause", "paused", 10_600, 10_700, 10_850)]
    assert pause_gaps(bounded, T0, 50_000, "skip")[0].late_ms is None


def test_bounds_that_cannot_be_trusted_are_not_used() -> None:
    # A create answered seconds away from its StartTime's second: two clocks (an accelerated
    # simulator), or a row that is not this recording's.
    assert start_bounds(T0, BEGAN_MS + 3_000, BEGAN_MS + 3_200) is None
    assert start_bounds(T0, BEGAN_MS - 3_200, BEGAN_MS - 3_000) is None
    assert start_bounds(T0, None, BEGAN_MS) is None
    # A pause whose bound reaches back to an earlier request a killed process never saw
    # answered: wider than LATE_MAX_MS, so placed as before.
    started = start_bounds(T0, BEGAN_MS - 100, BEGAN_MS + 150)
    events = [_event("pause", "paused", 10_850 - 30_000, 10_700, 10_850)]
    (gap,) = pause_gaps(events, T0, 50_000, "skip", started)
    assert gap.late_ms is None and gap.start_ms == 10_870
    assert LATE_MAX_MS < 30_000


def test_silence_pauses_are_spans_whatever_their_bounds() -> None:
    started = start_bounds(T0, BEGAN_MS - 100, BEGAN_MS + 150)
    events = [
        _event("pause", "paused", 10_600, 10_700, 10_850),
        _event("resume", "recording", 14_600, 14_700, 14_850),
    ]
    assert pause_gaps(events, T0, 50_000, "silence", started) == [PauseGap(10_870, 14_870, 4_000)]

"""The pause lane leaves out what was silenced for card data: the archive's analysis reads every
stretch of digital silence as a pause, and a silenced card number is not a pause the agent
made. A real pause that runs into a silenced span keeps the part the agent paused."""

from __future__ import annotations

from flexrec.archive.pauses import PauseGap
from flexrec.console.card_marks import MIN_GAP_MS, without_silenced


def _gap(a: int, b: int) -> PauseGap:
    return PauseGap(a, b, b - a)


def test_a_silenced_span_is_not_a_pause_and_a_real_pause_keeps_its_own_part() -> None:
    gaps = [_gap(20_000, 27_000), _gap(40_000, 70_000), _gap(90_000, 95_000), _gap(99_000, 99_000)]
    silenced = [(20_000, 27_000), (38_000, 52_000)]
    assert without_silenced(gaps, silenced) == [
        _gap(52_060, 70_000),  # paused late: the agent's own pause after the silenced reading
        _gap(90_000, 95_000),
        _gap(99_000, 99_000),  # a skip-mode point holds no audio to be silence
    ]
    assert without_silenced(gaps, []) == gaps


def test_slivers_left_by_frame_rounding_are_dropped() -> None:
    # The analysis frames are 20 ms: its silence runs a little past the silenced span.
    assert without_silenced([_gap(19_980, 27_040)], [(20_000, 27_000)]) == []
    kept = without_silenced([_gap(19_000, 27_000)], [(20_000, 27_000)])
    assert kept == [_gap(19_000, 19_940)] and kept[0].paused_ms >= MIN_GAP_MS

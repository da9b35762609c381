"""The recording read on the call's own clock: each `skip` pause opened up by the time it left out.

With `PauseBehavior=skip` Twilio leaves the paused audio out of the file, so the talk before a
pause and the talk after its resume meet at one point: a reading the pause cut and the agent's
words after the resume look like one utterance, one run of digits and one turn, and every rule
by nearness reaches across a stretch of the call that was never recorded. The stage's rules
read the transcript, the speech regions and the pauses on a timeline where each skip point
is opened up again by the time it left out, so a skip pause is read as a `silence` pause of the
same length is; what they find is put back on the file's timeline (a span reaching into an
opened pause ends, or starts, at its point).

A point's place is as exact as flexrec's pause events are (`flexrec.archive.pauses`): placed at
the latest moment they allow, never early, and each point says how much earlier it may be. Where
flexrec's own requests bound it (the create's and the pause's send and answer) that is their
round trips; where they do not, `POINT_LATE_MS` (Twilio's StartTime is whole seconds, so the
recording began up to a second after the start flexrec knows, and a pause's event is written once
Twilio's answer is back). The rules allow for that where they read "speech the pause cut"
(`pci.cuts`, `pci.dialogue`), from `joins()`.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from flexrec.pci.detect import Detection
from flexrec.transcription.base import Word
from flexrec.transcription.feed import Region

# How late a point no request bounds may be: StartTime's whole second plus the pause's answer
# on its way back (its event is written after it). A second alone left 4/17 code digit words
# audible on the early-resume skip set with the answer half a 300 ms round trip behind.
POINT_LATE_MS = 1500
# A skip point whose paused time is not known: longer than any rule's reach (45 s after a card),
# so the talk either side of it is never read as one.
UNKNOWN_SKIP_MS = 60_000


@dataclass(frozen=True)
class CallClock:
    """The file's skip points (ms into the file, sorted) and the paused time each left out;
    `late_ms`: how much earlier than its place each point may be (by point; `POINT_LATE_MS`
    for one not given)."""

    points: tuple[tuple[int, int], ...] = ()
    late_ms: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of(
        cls, skips: Sequence[tuple[int, int]], late_ms: Mapping[int, int] | None = None
    ) -> CallClock:
        """A clock from `(point_ms, skipped_ms)` pairs, in any order (`late_ms`: by point)."""
        late = tuple(sorted((late_ms or {}).items()))
        return cls(tuple(sorted((p, max(0, s)) for p, s in skips)), late)

    def _offset(self, index: int) -> int:
        """Time left out before segment `index` (the file between point index-1 and index)."""
        return sum(skipped for _, skipped in self.points[:index])

    def _segment(self, file_ms: float) -> int:
        """The segment a file time belongs to: a point starts the segment after it."""
        return bisect.bisect_right([p for p, _ in self.points], file_ms)

    def _bounds(self, index: int) -> tuple[float, float]:
        low = self.points[index - 1][0] if index > 0 else float("-inf")
        high = self.points[index][0] if index < len(self.points) else float("inf")
        return low, high

    def _span(self, start_ms: int, end_ms: int, index: int) -> tuple[int, int]:
        low, high = self._bounds(index)
        offset = self._offset(index)
        return int(max(start_ms, low)) + offset, int(min(end_ms, high)) + offset

    def words(self, words: Sequence[Word]) -> list[Word]:
        """Words on the call's clock; a word the recogniser placed across a point goes to the
        side holding its middle."""
        if not self.points:
            return list(words)
        out = []
        for word in words:
            start, end = self._span(
                word.start_ms, word.end_ms, self._segment((word.start_ms + word.end_ms) / 2)
            )
            out.append(replace(word, start_ms=start, end_ms=max(start, end)))
        return out

    def file_pieces(self, duration_ms: int) -> list[tuple[int, int]]:
        """The file's stretches between its points (ms): each was recorded in one go, and the
        voice activity detector reads each alone, so no speech region reaches over a join."""
        edges = [0, *(p for p, _ in self.points if 0 < p < duration_ms), duration_ms]
        return [(a, b) for a, b in itertools.pairwise(edges) if b > a]

    def regions(self, regions: Sequence[Region]) -> list[Region]:
        """Speech regions on the call's clock, split at every point they run across: the talk
        before a pause and after its resume are two turns, however the file joins them."""
        if not self.points:
            return list(regions)
        out: list[Region] = []
        for region in regions:
            first = self._segment(region.start_ms)
            last = self._segment(region.end_ms - 1)
            for index in range(first, last + 1):
                start, end = self._span(region.start_ms, region.end_ms, index)
                if end > start:
                    out.append(Region(start, end))
        return out

    def pauses(self, in_file: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """The file's paused spans on the call's clock, with every skip point opened into the
        span it left out (a zero-length point stays where its time is not known to be > 0)."""
        spans = [
            self._span(start, end, self._segment(start)) for start, end in in_file if end > start
        ]
        for index, (point, skipped) in enumerate(self.points):
            opened = point + self._offset(index)
            spans.append((opened, opened + skipped))
        return sorted(spans)

    def joins(self) -> dict[int, int]:
        """Where each opened pause begins on the call's clock (the file's join of two moments),
        with how much earlier it may have been."""
        late = dict(self.late_ms)
        return {
            point + self._offset(index): max(0, late.get(point, POINT_LATE_MS))
            for index, (point, _) in enumerate(self.points)
        }

    def to_file(self, call_ms: int) -> int:
        """A time on the call's clock back on the file's: inside an opened pause, its point."""
        for index, (point, skipped) in enumerate(self.points):
            opened = point + self._offset(index)
            if call_ms <= opened:
                return call_ms - self._offset(index)
            if call_ms <= opened + skipped:
                return point
        return call_ms - self._offset(len(self.points))

    def detection_to_file(self, detection: Detection) -> Detection:
        """A detection found on the call's clock, on the file's."""
        if not self.points:
            return detection
        return replace(
            detection,
            start_ms=self.to_file(detection.start_ms),
            end_ms=self.to_file(detection.end_ms),
        )

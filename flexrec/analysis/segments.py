"""Time spans in milliseconds and the boolean-frame conversions the analysis is built on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

BoolArray = npt.NDArray[np.bool_]


class Segment(NamedTuple):
    """A half-open span [start_ms, end_ms)."""

    start_ms: int
    end_ms: int

    @property
    def duration_ms(self) -> int:
        """Length of the span."""
        return self.end_ms - self.start_ms


def as_segments(spans: Iterable[tuple[int, int]]) -> list[Segment]:
    """Sorted, merged segments from any (start_ms, end_ms) pairs (empty spans dropped)."""
    out: list[Segment] = []
    for start, end in sorted((int(s), int(e)) for s, e in spans if e > s):
        if out and start <= out[-1].end_ms:
            if end > out[-1].end_ms:
                out[-1] = Segment(out[-1].start_ms, end)
        else:
            out.append(Segment(start, end))
    return out


IntArray = npt.NDArray[np.int64]


def run_bounds(mask: BoolArray) -> tuple[IntArray, IntArray]:
    """Starts and ends (exclusive) of the True runs of a 1-D mask, as two index arrays."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def merge_near(starts: IntArray, ends: IntArray, joins: BoolArray) -> tuple[IntArray, IntArray]:
    """Sorted, disjoint spans with each one for which `joins[i - 1]` holds (`joins` has one
    entry per gap, so n - 1) merged into the span before it."""
    first = np.ones(len(starts), np.bool_)
    first[1:] = ~joins
    last = np.ones(len(starts), np.bool_)
    last[:-1] = ~joins
    return starts[first], ends[last]


def to_mask(segments: Iterable[tuple[int, int]], frame_count: int, frame_ms: int) -> BoolArray:
    """Frames of `frame_ms` covered by the segments (a frame counts when its centre is inside)."""
    mask = np.zeros(frame_count, np.bool_)
    for start, end in segments:
        # First frame whose centre (i + 1/2) * frame_ms is >= start: ceil((2 start - f) / 2f).
        a = max(0, -((frame_ms - 2 * int(start)) // (2 * frame_ms)))
        b = min(frame_count, -((frame_ms - 2 * int(end)) // (2 * frame_ms)))
        if b > a:
            mask[a:b] = True
    return mask

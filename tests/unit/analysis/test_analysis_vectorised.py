"""The detector's smoothing and the interruption count, vectorised over runs, give what a loop
over the runs one by one gives (the loops below are the rules as first written)."""

from __future__ import annotations

import numpy as np
import pytest

from flexrec.analysis import VadConfig
from flexrec.analysis.metrics import _interruptions
from flexrec.analysis.segments import Segment, as_segments
from flexrec.analysis.vad import _segments


def _segments_one_by_one(active: np.ndarray, config: VadConfig) -> list[Segment]:
    edges = np.diff(np.concatenate(([0], active.astype(np.int8), [0])))
    spans = list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))
    spans = [(s, e) for s, e in spans if e - s >= config.min_burst_ms / config.frame_ms]
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start - merged[-1][1] < config.max_gap_ms // config.frame_ms:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    kept = [(s, e) for s, e in merged if e - s >= config.min_speech_ms / config.frame_ms]
    total_ms = len(active) * config.frame_ms
    out: list[Segment] = []
    for start, end in kept:
        a = max(0, int(start) * config.frame_ms - config.pad_ms)
        b = min(total_ms, int(end) * config.frame_ms + config.pad_ms)
        if out and a <= out[-1].end_ms:
            out[-1] = Segment(out[-1].start_ms, b)
        else:
            out.append(Segment(a, b))
    return out


def _interruptions_one_by_one(by: list[Segment], of: list[Segment], grace: int, bc: int) -> int:
    count = 0
    for b in by:
        if b.end_ms - b.start_ms <= bc:
            continue
        if any(a.start_ms < b.start_ms < a.end_ms and min(a.end_ms, b.end_ms) - b.start_ms > grace
               for a in of):  # fmt: skip
            count += 1
    return count


@pytest.mark.parametrize("seed", range(12))
def test_smoothing_equals_the_loop_over_runs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Runs and gaps of 1-40 frames: clicks, bridged pauses, short bursts, speech at both ends.
    lengths = rng.integers(1, 40, size=400)
    active = np.repeat(np.arange(400) % 2 == seed % 2, lengths)
    config = VadConfig(pad_ms=[20, 200][seed % 2])  # wide padding makes neighbours overlap
    assert _segments(active, config) == _segments_one_by_one(active, config)
    assert _segments(np.zeros(0, np.bool_), config) == []
    assert _segments(np.ones(50, np.bool_), config) == [Segment(0, 1000)]


@pytest.mark.parametrize("seed", range(12))
def test_interruptions_equal_the_loop_over_segments(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)

    def side(n: int) -> list[Segment]:
        starts = rng.integers(0, 120_000, size=n)
        return as_segments((int(s), int(s + rng.integers(100, 6_000))) for s in starts)

    customer, agent = side(60), side(60)
    for by, of in ((customer, agent), (agent, customer), (customer, []), ([], agent)):
        assert _interruptions(by, of, 500, 1000) == _interruptions_one_by_one(by, of, 500, 1000)
    assert _interruptions_one_by_one(customer, agent, 500, 1000) > 0

"""The detector's smoothing and the interruption count, vectorised over runs (and the smoothing
in C where built), give what a loop over the runs one by one gives (the loops below are the
rules as first written); the conversation metrics equal a millisecond-by-millisecond count."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from flexrec.analysis import VadConfig, compute_metrics, vad
from flexrec.analysis.metrics import _interruptions
from flexrec.analysis.segments import Segment, as_segments
from flexrec.analysis.vad import _compiled_segments, _segments


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
    expected = _segments_one_by_one(active, config)
    assert _segments(active, config) == expected
    assert _segments(np.zeros(0, np.bool_), config) == []
    assert _segments(np.ones(50, np.bool_), config) == [Segment(0, 1000)]
    if vad.COMPILED:
        for settings in (config, VadConfig(min_burst_ms=0, max_gap_ms=0, min_speech_ms=0)):
            want = _segments_one_by_one(active, settings)
            assert _compiled_segments(active, settings) == want
        assert _compiled_segments(active, config) == expected
        assert _compiled_segments(np.zeros(0, np.bool_), config) == []
        assert _compiled_segments(np.ones(50, np.bool_), config) == [Segment(0, 1000)]


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


def _metrics_ms_by_ms(
    customer: list[tuple[int, int]],
    agent: list[tuple[int, int]],
    duration_ms: int,
    paused: list[tuple[int, int]],
) -> tuple[int, ...]:
    """Talk, cross-talk, silence and pause totals counted one millisecond at a time."""

    def mask(spans: list[tuple[int, int]]) -> np.ndarray:
        out = np.zeros(max(duration_ms, 0), np.bool_)
        for a, b in spans:
            out[max(a, 0) : max(min(b, duration_ms), 0)] = True
        return out

    pause = mask(paused)
    cust, agt = mask(customer) & ~pause, mask(agent) & ~pause
    either = cust | agt
    silence = int((~either & ~pause).sum())
    return int(cust.sum()), int(agt.sum()), int(either.sum()), int((cust & agt).sum()), silence


@pytest.mark.parametrize("seed", range(12))
def test_metrics_equal_a_count_millisecond_by_millisecond(seed: int) -> None:
    rng = np.random.default_rng(300 + seed)
    duration = int(rng.integers(0, 60_000))

    def spans(n: int) -> list[tuple[int, int]]:
        # Unsorted, overlapping, empty, reversed and outside the recording.
        starts = rng.integers(-2_000, duration + 2_000, size=n)
        return [(int(s), int(s + rng.integers(-100, 8_000))) for s in starts]

    customer, agent, paused = spans(40), spans(40), spans(int(rng.integers(0, 6)))
    found = compute_metrics(customer, agent, duration, paused)
    expected = _metrics_ms_by_ms(customer, agent, duration, paused)
    assert (
        found.customer_talk_ms,
        found.agent_talk_ms,
        found.total_talk_ms,
        found.cross_talk_ms,
        found.silence_ms,
    ) == expected
    assert found.paused_ms == int(_metrics_ms_by_ms(paused, [], duration, [])[0])
    # Each side's segments are its talk: non-empty, disjoint, outside the pauses.
    for who, spans_in in (("customer", customer), ("agent", agent)):
        mine = [(s.start_ms, s.end_ms) for s in found.segments if s.speaker == who]
        assert all(b > a for a, b in mine)
        assert all(b <= c for (_, b), (c, _) in itertools.pairwise(mine))
        talk = _metrics_ms_by_ms(spans_in, [], duration, paused)[0]
        assert sum(b - a for a, b in mine) == talk
        assert _metrics_ms_by_ms(mine, [], duration, paused)[0] == talk
    keys = [(s.start_ms, s.end_ms, s.speaker) for s in found.segments]
    assert keys == sorted(keys)

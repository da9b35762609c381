"""Voice activity detection for telephone recordings, robust to line noise and hold music.

Per 20 ms frame, energy above an adaptive noise floor (a low percentile of recent frame
energies, ignoring digital silence) makes a frame a candidate. Candidates are then tested for
being music rather than speech with a property all speech has and steady music lacks:
syllabic amplitude modulation. Speech rises and falls with its syllables (~4-6 per second),
so the frame RMS of any 600 ms of it varies a lot (coefficient of variation well above 0.3);
held chords and legato melody notes barely move (below ~0.2). Candidate frames covered by a
steady, fully loud window are music. Finally isolated bursts (clicks) are dropped, short
pauses bridged and short segments discarded.

Everything is numpy-vectorised over frames (energy, cumulative sums), no per-frame Python
and no FFT, so the detector runs tens of thousands of times faster than real time. Where the C
module `_vad` is built (as `_frames`, at install when a C compiler is there), the per-frame
steps after the energies and the smoothing run there instead, with the same decisions bit for
bit: the loop is a few comparisons and sums per frame, where numpy pays a pass over memory
and a call's set-up for each (a 20th of the time for a five-minute channel).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from flexrec.analysis.frames import frame_power
from flexrec.analysis.segments import BoolArray, IntArray, Segment, merge_near, run_bounds

FloatArray = npt.NDArray[np.float32]
ALGORITHM_VERSION = "vad1"  # bump when the algorithm (not just a threshold) changes

try:
    from flexrec.analysis import _vad

    COMPILED = True
except ImportError:  # installed without a C compiler: numpy below makes the same decisions
    COMPILED = False

Engine = Literal["auto", "numpy", "compiled"]
"""How the detector's per-frame steps run: `auto` is the compiled module where built."""


@dataclass(frozen=True)
class VadConfig:
    """Every threshold of the detector (times in ms, levels in dB / dBFS)."""

    frame_ms: int = 20
    # Adaptive floor: a low percentile of frame energy per block, then the minimum over a window.
    floor_block_ms: int = 500
    floor_percentile: float = 10.0
    floor_window_ms: int = 3000
    snr_db: float = 6.0  # a candidate frame is this far above the local floor
    min_level_dbfs: float = -55.0  # and at least this loud
    digital_silence_dbfs: float = -90.0  # frames quieter than this are ignored by the floor
    # Music test: steady windows (syllabic modulation of the frame amplitude too small).
    music_window_ms: int = 600
    music_max_cv: float = 0.27  # coefficient of variation of frame RMS below this is steady
    music_min_active: float = 0.9  # share of sounding frames a steady window needs
    music_min_snr_db: float = 3.0  # "sounding" for the music test: this far above the floor
    # Smoothing.
    min_burst_ms: int = 60  # before bridging, drop runs shorter than this (clicks, pops)
    max_gap_ms: int = 300  # bridge pauses shorter than this
    min_speech_ms: int = 200  # drop bursts shorter than this
    pad_ms: int = 20  # widen each segment a little (energy onsets lag the true onset)

    @property
    def version(self) -> str:
        """Identifies the algorithm and these thresholds (stored beside analysis results)."""
        digest = hashlib.blake2b(repr(dataclasses.astuple(self)).encode(), digest_size=4)
        return f"{ALGORITHM_VERSION}-{digest.hexdigest()}"


def _sliding_min(values: FloatArray, half_width: int) -> FloatArray:
    """The minimum of values[i - half_width : i + half_width + 1] for every i (inf outside):
    a running minimum over shifted copies, as a strided window view gave it for a fifth of its
    cost (a few hundred blocks, where the view's set-up outweighed the work)."""
    padded = np.concatenate(
        [np.full(half_width, np.inf, np.float32), values, np.full(half_width, np.inf, np.float32)]
    )
    n = len(values)
    out: FloatArray = padded[:n].copy()
    for shift in range(1, 2 * half_width + 1):
        np.minimum(out, padded[shift : shift + n], out=out)
    return out


def _noise_floor(energy_db: FloatArray, config: VadConfig) -> FloatArray:
    """Per-frame floor: low percentile of each block's non-silent frames, min over a window."""
    per_block = max(1, config.floor_block_ms // config.frame_ms)
    blocks = -(-len(energy_db) // per_block)
    grid = np.full(blocks * per_block, np.inf, np.float32)
    grid[: len(energy_db)] = np.where(
        energy_db > config.digital_silence_dbfs, energy_db, np.float32(np.inf)
    )
    grid2 = np.sort(grid.reshape(blocks, per_block), axis=1)
    finite = np.isfinite(grid2).sum(axis=1)
    pick = np.minimum(
        (finite * config.floor_percentile / 100.0).astype(np.int64), np.maximum(finite - 1, 0)
    )
    block_floor = grid2[np.arange(blocks), pick]
    half = max(0, config.floor_window_ms // config.floor_block_ms // 2)
    block_floor = _sliding_min(block_floor.astype(np.float32), half)
    block_floor[~np.isfinite(block_floor)] = config.min_level_dbfs
    return np.repeat(block_floor, per_block)[: len(energy_db)]


def _window_sums(values: FloatArray, width: int) -> FloatArray:
    """Sum of values[s : s + width] for every window start s (len(values) - width + 1 of them)."""
    cs = np.empty(len(values) + 1, np.float64)
    cs[0] = 0.0
    np.cumsum(values, dtype=np.float64, out=cs[1:])
    out: FloatArray = (cs[width:] - cs[:-width]).astype(np.float32)
    return out


def _window_counts(flags: BoolArray, width: int) -> IntArray:
    """How many of flags[s : s + width] are set, for every window start s: in integers, what
    summing them as floats gave exactly, for a fifth of the cost."""
    cs = np.zeros(len(flags) + 1, np.int64)
    np.cumsum(flags, dtype=np.int64, out=cs[1:])
    out: IntArray = cs[width:] - cs[:-width]
    return out


def _music_frames(
    amplitude: FloatArray, sounding: BoolArray, candidate: BoolArray, config: VadConfig
) -> BoolArray:
    """Candidate frames inside a steady window: loud throughout, with little syllabic modulation.

    Speech rises and falls with its syllables (~4-6 per second), so the frame RMS amplitude of
    any stretch of speech varies a lot; held chords and melody notes barely move.
    """
    n = len(amplitude)
    width = max(2, config.music_window_ms // config.frame_ms)
    music = np.zeros(n, np.bool_)
    if n < width or not candidate.any():
        return music
    # Quiet music flickers around the candidate threshold, so windows are judged on a lower
    # one. The share of sounding frames is looked up by count, as float32 division gave it.
    shares = np.arange(width + 1, dtype=np.float32) / width
    loud = (shares >= config.music_min_active)[_window_counts(sounding, width)]
    if not loud.any():
        return music
    mean = _window_sums(amplitude, width) / width
    mean_sq = _window_sums(amplitude * amplitude, width) / width
    cv = np.sqrt(np.maximum(mean_sq - mean * mean, 0.0)) / np.maximum(mean, 1e-9)
    steady = loud & (cv < config.music_max_cv)
    if not steady.any():
        return music
    # A frame is music when any steady window covers it.
    edge = np.zeros(width - 1, np.bool_)
    covered = _window_counts(np.concatenate([edge, steady, edge]), width)
    music[:] = covered[:n] > 0
    return music & candidate


def _smooth(active: BoolArray, config: VadConfig) -> tuple[IntArray, IntArray]:
    """Speech runs of frames (starts, ends): clicks dropped, short pauses bridged, short
    bursts dropped; vectorised over runs (a five-minute channel has a few hundred)."""
    starts, ends = run_bounds(active)
    burst = ends - starts >= config.min_burst_ms / config.frame_ms
    starts, ends = starts[burst], ends[burst]
    gap = config.max_gap_ms // config.frame_ms
    starts, ends = merge_near(starts, ends, starts[1:] - ends[:-1] < gap)
    speech = ends - starts >= config.min_speech_ms / config.frame_ms
    return starts[speech], ends[speech]


def speech_frames(
    samples: npt.NDArray[np.generic], sample_rate_hz: int, config: VadConfig
) -> tuple[BoolArray, BoolArray]:
    """Per-frame (speech, music) masks before smoothing; exposed for tuning and tests."""
    if samples.ndim > 2 or (samples.ndim == 2 and samples.shape[1] != 1):
        raise ValueError(f"expected one channel of audio, got shape {samples.shape}")
    x = samples.reshape(-1, 1)
    return speech_frames_from_power(frame_power(x, sample_rate_hz, config.frame_ms)[0], config)


def speech_frames_from_power(
    power: FloatArray, config: VadConfig, *, engine: Engine = "auto"
) -> tuple[BoolArray, BoolArray]:
    """Per-frame (speech, music) masks from each frame's mean power (full scale 1.0)."""
    if len(power) == 0:
        empty = np.zeros(0, np.bool_)
        return empty, empty
    energy_db = (10.0 * np.log10(power + 1e-12)).astype(np.float32)
    if _compiled(engine, power):
        return _compiled_frames(power, energy_db, config)
    floor = _noise_floor(energy_db, config)
    candidate = (energy_db > floor + config.snr_db) & (energy_db > config.min_level_dbfs)
    # Noise-floor power removed first, so line noise does not flatten the syllable dips.
    floor_power = np.power(np.float32(10.0), floor / np.float32(10.0))
    amplitude = np.sqrt(np.maximum(power - floor_power, 0.0)).astype(np.float32)
    sounding = energy_db > floor + config.music_min_snr_db
    music = _music_frames(amplitude, sounding, candidate, config)
    return candidate & ~music, music


def detect_speech(
    samples: npt.NDArray[np.generic], sample_rate_hz: int, config: VadConfig | None = None
) -> list[Segment]:
    """Speech segments (ms) in one channel of audio (int16 or float in [-1, 1])."""
    config = config or VadConfig()
    active, _ = speech_frames(samples, sample_rate_hz, config)
    return _segments(active, config)


def detect_speech_from_power(
    power: FloatArray, config: VadConfig | None = None, *, engine: Engine = "auto"
) -> list[Segment]:
    """Speech segments (ms) from one channel's frame powers (`flexrec.analysis.frames`)."""
    config = config or VadConfig()
    active, _ = speech_frames_from_power(power, config, engine=engine)
    return (
        _compiled_segments(active, config)
        if _compiled(engine, power)
        else _segments(active, config)
    )


def _compiled(engine: Engine, power: FloatArray) -> bool:
    """Whether the compiled steps run: they read float32 powers (numpy's steps then round as
    they do), so other powers take the numpy path."""
    if engine == "numpy":
        return False
    if engine == "compiled" and not COMPILED:
        raise ValueError("the compiled detector is not built in this installation")
    return COMPILED and power.dtype == np.float32


def _compiled_frames(
    power: FloatArray, energy_db: FloatArray, config: VadConfig
) -> tuple[BoolArray, BoolArray]:
    """`speech_frames_from_power`'s masks from the C module: the floor per block there, its
    power here (numpy's 10**x, as the numpy path takes it), then every frame's decision there."""
    per_block = max(1, config.floor_block_ms // config.frame_ms)
    floor = np.empty(-(-len(energy_db) // per_block), np.float32)
    half = max(0, config.floor_window_ms // config.floor_block_ms // 2)
    _vad.block_floors(
        energy_db,
        per_block,
        config.floor_percentile,
        config.digital_silence_dbfs,
        half,
        config.min_level_dbfs,
        floor,
    )
    floor_power = np.power(np.float32(10.0), floor / np.float32(10.0))
    speech = np.empty(len(energy_db), np.bool_)
    music = np.empty(len(energy_db), np.bool_)
    _vad.speech_frames(
        energy_db,
        np.ascontiguousarray(power),
        floor,
        floor_power,
        per_block,
        config.snr_db,
        config.min_level_dbfs,
        config.music_min_snr_db,
        max(2, config.music_window_ms // config.frame_ms),
        config.music_max_cv,
        config.music_min_active,
        speech,
        music,
    )
    return speech, music


def _compiled_segments(active: BoolArray, config: VadConfig) -> list[Segment]:
    """`_segments` by the C module: one walk along the frames, no array per step."""
    spans = _vad.speech_spans(
        np.ascontiguousarray(active, np.bool_),
        config.frame_ms,
        config.min_burst_ms / config.frame_ms,
        config.max_gap_ms // config.frame_ms,
        config.min_speech_ms / config.frame_ms,
        config.pad_ms,
    )
    return list(map(Segment._make, spans))


def _segments(active: BoolArray, config: VadConfig) -> list[Segment]:
    total_ms = len(active) * config.frame_ms
    starts, ends = _smooth(active, config)
    # Padding may make neighbours touch or overlap: those become one segment.
    a = np.maximum(starts * config.frame_ms - config.pad_ms, 0)
    b = np.minimum(ends * config.frame_ms + config.pad_ms, total_ms)
    a, b = merge_near(a, b, a[1:] <= b[:-1])
    return [Segment(s, e) for s, e in zip(a.tolist(), b.tolist(), strict=True)]

"""Per-frame facts of every channel of a recording, from one pass over its 16-bit samples.

The voice activity detector needs each 20 ms frame's power; the console's waveform needs each
bucket's smallest and largest sample; digital silence (a paused recording) is a frame whose
smallest and largest samples are both zero on every channel. With 50 waveform buckets a second
the buckets are the frames, so one pass yields all three. The pass goes block by block: a block
is de-interleaved once and reduced while it sits in the CPU cache, and memory stays bounded
whatever the recording's length (an hour of stereo is 115 MB of samples; its frames 2 MB).

Where the C module `_frames` is built (setuptools compiles it at install when a C compiler is
there), the pass is one read of the interleaved samples instead of four numpy passes; numpy
gives the same figures bit for bit without it. Each frame's sum of squares is exact (every
square and partial sum is an integer below 2**53, so float64 holds it whatever the order of
adding), rounded once to float32, then scaled by a power of two (exact) and divided by the
frame's length: two loops that add in different orders still agree.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

FRAME_MS = 20
_BLOCK_FRAMES = 512  # frames reduced per block: ~0.3 MB of stereo samples, cache-sized
_FULL_SCALE_SQ = np.float32(2.0**-30)  # (1 / 32768) ** 2, a power of two

Int16Array = npt.NDArray[np.int16]
FloatArray = npt.NDArray[np.float32]

try:
    from flexrec.analysis._frames import frame_pass as _compiled_pass

    COMPILED = True
except ImportError:  # installed without a C compiler: the numpy pass below gives the same figures
    COMPILED = False

Engine = Literal["auto", "numpy", "compiled", "compiled-plain"]
"""How the frame pass runs: `auto` is the compiled one where built, else numpy; `compiled-plain`
is the compiled module without its SIMD loop (what a CPU without AVX2 runs)."""


@dataclass(frozen=True)
class FrameStats:
    """Per channel and frame: smallest and largest sample, and mean power (full scale 1.0).

    `low`/`high` have a column per bucket, the last one partial when the length is not a whole
    number of frames; `power` has a column per whole frame only (the detector's frames).
    """

    sample_rate_hz: int
    frame_samples: int
    samples: int  # per channel
    low: Int16Array  # (channels, buckets)
    high: Int16Array  # (channels, buckets)
    power: FloatArray  # (channels, frames)

    @property
    def channels(self) -> int:
        """Number of channels."""
        return int(self.low.shape[0])

    @property
    def frames(self) -> int:
        """Whole frames (the detector's)."""
        return int(self.power.shape[1])

    @property
    def frame_ms(self) -> int:
        """Length of a frame in milliseconds."""
        return self.frame_samples * 1000 // self.sample_rate_hz

    @property
    def duration_ms(self) -> int:
        """Length of the recording, rounded down to the millisecond."""
        return self.samples * 1000 // self.sample_rate_hz if self.sample_rate_hz else 0


def frame_samples_for(sample_rate_hz: int, frame_ms: int = FRAME_MS) -> int:
    """Samples in a frame of `frame_ms` (at least one)."""
    return max(1, sample_rate_hz * frame_ms // 1000)


def as_channels(samples: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    """`samples` as (frames, channels): a 1-D array is one channel."""
    if samples.ndim == 1:
        return samples.reshape(-1, 1)
    if samples.ndim != 2:
        raise ValueError(f"expected (n,) or (n, channels) samples, got shape {samples.shape}")
    return samples


def frame_stats(
    samples: npt.NDArray[np.int16],
    sample_rate_hz: int,
    frame_ms: int = FRAME_MS,
    *,
    extremes: bool = True,
    engine: Engine = "auto",
) -> FrameStats:
    """Smallest, largest sample and mean power of every frame of every channel (int16 PCM);
    without `extremes` the power only (`low`/`high` then left empty)."""
    if samples.dtype != np.int16:
        raise ValueError(f"frame_stats reads 16-bit PCM, got {samples.dtype}")
    pcm = as_channels(samples)
    length, channels = pcm.shape
    f = frame_samples_for(sample_rate_hz, frame_ms)
    whole = length // f
    buckets = -(-length // f)
    low = np.empty((channels, buckets), np.int16)
    high = np.empty((channels, buckets), np.int16)
    power = np.empty((channels, whole), np.float32)
    if engine == "auto":
        engine = "compiled" if COMPILED else "numpy"
    if engine == "numpy":
        _numpy_pass(pcm, f, whole, low, high, power)
    elif not COMPILED:
        raise ValueError("the compiled frame pass is not built in this installation")
    else:
        # The module reads native-order, aligned, interleaved samples: a WAV read in place is.
        native = np.require(pcm.astype("=i2", copy=False), requirements=["C", "A"])
        _compiled_pass(native, channels, f, whole, low, high, power, buckets, engine == "compiled")
    if buckets > whole:  # the partial last bucket: peaks only
        tail = pcm[whole * f :]
        low[:, whole] = tail.min(axis=0)
        high[:, whole] = tail.max(axis=0)
    power *= _FULL_SCALE_SQ
    power /= np.float32(f)
    if not extremes:
        low, high = low[:, :0], high[:, :0]
    return FrameStats(sample_rate_hz, f, length, low, high, power)


def _numpy_pass(
    pcm: npt.NDArray[np.generic],
    f: int,
    whole: int,
    low: Int16Array,
    high: Int16Array,
    sums: FloatArray,
) -> None:
    """Each whole frame's extremes into `low`/`high` and its sum of squares (exact, rounded to
    float32) into `sums`, block by block."""
    channels = pcm.shape[1]
    block = min(_BLOCK_FRAMES, max(whole, 1))
    planar = np.empty((channels, block * f), np.int16)
    pairs = _stereo_pairs(pcm)
    spare = np.empty(block * f if pairs is not None else 0, np.int32)
    # Where each frame starts in a block's planar samples: `reduceat` reduces every frame in
    # one call, a third cheaper than a reduction along rows of 160 (numpy's per-row set-up
    # costs more than the row's vector work).
    frame_starts = np.arange(0, channels * block * f, f)
    for start in range(0, whole, block):
        k = min(block, whole - start)
        view = planar[:, : k * f]
        if pairs is not None:
            _split_pairs(pairs[start * f : (start + k) * f], view, spare[: k * f])
        else:
            np.copyto(view, pcm[start * f : (start + k) * f].T)
        flat, starts = view.reshape(-1), frame_starts[: channels * k]
        low[:, start : start + k] = np.minimum.reduceat(flat, starts).reshape(channels, k)
        high[:, start : start + k] = np.maximum.reduceat(flat, starts).reshape(channels, k)
        rows = view.reshape(channels * k, f)
        # Summed in float64, exact whatever the order (see the module's docstring).
        exact = np.einsum("ij,ij->i", rows, rows, dtype=np.float64, casting="unsafe")
        sums[:, start : start + k] = exact.reshape(channels, k)


def _stereo_pairs(pcm: npt.NDArray[np.generic]) -> npt.NDArray[np.int32] | None:
    """Interleaved stereo as one int32 per sample pair (first channel in the low half), where
    the layout allows; else None."""
    if pcm.shape[1] != 2 or not pcm.flags.c_contiguous or sys.byteorder != "little":
        return None
    return pcm.reshape(-1).view(np.int32)


def _split_pairs(
    pairs: npt.NDArray[np.int32], planar: Int16Array, spare: npt.NDArray[np.int32]
) -> None:
    """De-interleave stereo pairs into `planar` (2, n) with two contiguous vector passes: the
    low halves by a narrowing cast, the high halves shifted down first. A strided transpose
    of the int16 samples takes half as long again."""
    np.copyto(planar[0], pairs, casting="unsafe")  # an int32 narrowed to int16 keeps its low half
    np.right_shift(pairs, 16, out=spare)
    np.copyto(planar[1], spare, casting="unsafe")


def frame_power(
    samples: npt.NDArray[np.generic], sample_rate_hz: int, frame_ms: int = FRAME_MS
) -> FloatArray:
    """Mean power of every whole frame of every channel, (channels, frames); int16 samples are
    read as PCM (full scale 1.0), float ones as they are."""
    pcm = as_channels(samples)
    if pcm.dtype == np.int16:
        return frame_stats(pcm, sample_rate_hz, frame_ms, extremes=False).power  # type: ignore[arg-type]
    f = frame_samples_for(sample_rate_hz, frame_ms)
    whole = pcm.shape[0] // f
    out = np.empty((pcm.shape[1], whole), np.float32)
    for channel in range(pcm.shape[1]):
        x = np.ascontiguousarray(pcm[: whole * f, channel], dtype=np.float32).reshape(whole, f)
        out[channel] = np.einsum("ij,ij->i", x, x) / np.float32(f)
    return out


def digital_silence(
    samples: npt.NDArray[np.int16], stats: FrameStats, min_ms: int
) -> list[tuple[int, int]]:
    """Runs of at least `min_ms` where every channel is exactly zero, as (start_ms, end_ms).

    Whole silent frames are found from the frame minima and maxima; each run's two ends are
    then found to the sample in the frame beside it, so the spans equal a sample-by-sample
    search's. Runs shorter than two frames cannot hold a whole frame and are not looked for.
    """
    pcm = as_channels(samples)
    rate, f = stats.sample_rate_hz, stats.frame_samples
    min_samples = min_ms * rate // 1000
    if min_samples < 2 * f:
        raise ValueError(f"digital silence shorter than two frames ({min_ms} ms) is not found")
    if pcm.size == 0:
        return []
    zero = np.all((stats.low == 0) & (stats.high == 0), axis=0).astype(np.int8)
    edges = np.diff(np.concatenate(([0], zero, [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    spans = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        first, last = a * f, min(b * f, stats.samples)
        # Widen into the frames either side, to the first sample that is not silent.
        first -= _trailing_true(~np.any(pcm[max(0, first - f) : first], axis=1))
        last += _leading_true(~np.any(pcm[last : last + f], axis=1))
        if last - first >= min_samples:
            spans.append((first * 1000 // rate, last * 1000 // rate))
    return spans


def _trailing_true(mask: npt.NDArray[np.bool_]) -> int:
    false = np.flatnonzero(~mask)
    return len(mask) if not len(false) else len(mask) - 1 - int(false[-1])


def _leading_true(mask: npt.NDArray[np.bool_]) -> int:
    false = np.flatnonzero(~mask)
    return len(mask) if not len(false) else int(false[0])

"""Waveform peaks as wavesurfer.js draws them, from the archive's stored min/max buckets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class PeaksUnavailable(LookupError):
    """No peaks were computed for this recording (not analysed yet, or malformed)."""


def _interleave(lows: Sequence[float], highs: Sequence[float]) -> list[float]:
    # wavesurfer draws each pixel from the largest and smallest samples it covers, so a
    # max, min pair per bucket keeps both envelopes without decoding any audio.
    out: list[float] = []
    for low, high in zip(lows, highs, strict=False):
        out.append(round(max(-1.0, min(1.0, float(high))), 4))
        out.append(round(max(-1.0, min(1.0, float(low))), 4))
    return out


def wavesurfer_peaks(stored: Mapping[str, Any], duration_ms: int | None) -> dict[str, Any]:
    """`{"duration_s", "channels": [[max, min, ...], ...]}` from `{"buckets_per_s", "channels"}`."""
    channels = stored.get("channels")
    if not isinstance(channels, list) or not channels:
        raise PeaksUnavailable("stored peaks have no channels")
    data: list[list[float]] = []
    for channel in channels:
        if isinstance(channel, Mapping):
            lows, highs = channel.get("min") or [], channel.get("max") or []
            data.append(_interleave(lows, highs))
        elif isinstance(channel, list):
            data.append([round(float(v), 4) for v in channel])
        else:
            raise PeaksUnavailable("stored peaks channel is neither min/max nor a list")
    buckets_per_s = float(stored.get("buckets_per_s") or 0)
    if duration_ms:
        duration_s = duration_ms / 1000.0
    elif buckets_per_s > 0:
        duration_s = len(data[0]) / 2 / buckets_per_s
    else:
        raise PeaksUnavailable("cannot tell the duration the peaks cover")
    return {"duration_s": duration_s, "buckets_per_s": buckets_per_s, "channels": data}

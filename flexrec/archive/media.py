"""Fetching a recording's media from Twilio and checking that it is the WAV we expect."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import soundfile as sf

from flexrec.twilio.errors import GatewayError
from flexrec.twilio.gateway import ArchiveGateway

API_ORIGIN = "https://api.twilio.com"
_MEDIA_SUFFIX = re.compile(r"\.(json|wav|mp3)$")
# Twilio reports RecordingDuration in whole seconds; allow that rounding plus a little slack.
DURATION_TOLERANCE_MS = 1000


class MediaError(Exception):
    """The media could not be fetched or is not what was expected."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class WavFacts:
    """What the WAV header and body say."""

    channels: int
    sample_rate_hz: int
    frames: int

    @property
    def duration_ms(self) -> int:
        """Length in milliseconds, rounded."""
        return round(self.frames * 1000 / self.sample_rate_hz) if self.sample_rate_hz else 0


def recording_media_url(account_sid: str, recording_sid: str) -> str:
    """Twilio's media URL (without extension) for a recording of `account_sid`."""
    return f"{API_ORIGIN}/2010-04-01/Accounts/{account_sid}/Recordings/{recording_sid}"


def media_url_from_uri(uri: str) -> str:
    """Turn a Recording resource `uri` (`/2010-04-01/…/RE….json`) into its media URL."""
    return API_ORIGIN + _MEDIA_SUFFIX.sub("", uri)


def download_wav(gateway: ArchiveGateway, media_url: str, channels: int = 2) -> bytes:
    """The recording's WAV through the gateway; its failures become `MediaError`s."""
    try:
        return gateway.download_media(media_url, channels)
    except GatewayError as exc:
        # 404 right after completion is common while Twilio finishes processing: retry it.
        status = exc.status
        retryable = status is None or status in {404, 408, 409, 429} or status >= 500
        raise MediaError(f"media download failed: {exc}", retryable) from exc


def inspect_wav(data: bytes) -> WavFacts:
    """Parse the WAV header; raises `MediaError` if it is not a readable sound file."""
    try:
        info = sf.info(io.BytesIO(data))
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise MediaError(f"media is not a readable WAV: {exc}") from exc
    return WavFacts(int(info.channels), int(info.samplerate), int(info.frames))


def verify_wav(
    data: bytes, expected_channels: int = 2, twilio_duration_s: int | None = None
) -> WavFacts:
    """Check channel count, non-emptiness, and length against Twilio's RecordingDuration."""
    facts = inspect_wav(data)
    if facts.frames <= 0:
        raise MediaError("media WAV holds no audio")
    if facts.channels != expected_channels:
        # Asking again will not add a channel: not retryable.
        raise MediaError(
            f"media has {facts.channels} channel(s), expected {expected_channels}", False
        )
    if twilio_duration_s is not None:
        drift_ms = abs(facts.duration_ms - twilio_duration_s * 1000)
        if drift_ms > DURATION_TOLERANCE_MS:
            raise MediaError(
                f"media lasts {facts.duration_ms} ms but Twilio reports {twilio_duration_s} s"
            )
    return facts


def decode_wav(data: bytes) -> tuple[np.ndarray[Any, np.dtype[np.float32]], int]:
    """Samples as float32 of shape (frames, channels), and the sample rate."""
    try:
        audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise MediaError(f"media is not a readable WAV: {exc}", False) from exc
    return audio, int(rate)


PEAKS_BUCKETS_PER_S = 50


def compute_peaks(
    audio: np.ndarray[Any, np.dtype[np.float32]],
    sample_rate_hz: int,
    labels: tuple[str, ...] | list[str] = (),
    buckets_per_s: int = PEAKS_BUCKETS_PER_S,
) -> dict[str, Any]:
    """Min/max per bucket per channel (about `buckets_per_s` buckets a second) for waveforms."""
    frames, channel_count = audio.shape
    bucket = max(1, round(sample_rate_hz / buckets_per_s))
    n_buckets = -(-frames // bucket) if frames else 0
    # Channel-major, so each bucket is contiguous: reducing the middle axis of a
    # (buckets, samples, channels) view is an order of magnitude slower.
    padded = np.zeros((channel_count, n_buckets * bucket), dtype=np.float32)
    padded[:, :frames] = audio.T
    shaped = padded.reshape(channel_count, n_buckets, bucket)
    mins = shaped.min(axis=2).T
    maxs = shaped.max(axis=2).T
    # Zero padding would fake a silent extreme in the last, partial bucket: recompute it.
    if frames % bucket:
        tail = audio[(n_buckets - 1) * bucket :]
        mins[-1] = tail.min(axis=0)
        maxs[-1] = tail.max(axis=0)
    channels = []
    for index in range(channel_count):
        label = labels[index] if index < len(labels) else f"channel_{index + 1}"
        channels.append(
            {
                "label": label,
                # Vectorised: a per-value round() was most of an archive job's CPU.
                "min": np.round(mins[:, index].astype(np.float64), 4).tolist(),
                "max": np.round(maxs[:, index].astype(np.float64), 4).tolist(),
            }
        )
    return {
        "version": 1,
        "sample_rate_hz": sample_rate_hz,
        "bucket_samples": bucket,
        "buckets_per_s": sample_rate_hz / bucket,
        "duration_ms": round(frames * 1000 / sample_rate_hz) if sample_rate_hz else 0,
        "channels": channels,
    }


# Real line audio is never exactly zero on both channels for long; a paused recording with
# pauseBehavior=silence is (Twilio writes digital silence), so such runs are taken as pauses.
DIGITAL_SILENCE_MIN_MS = 1000


def digital_silence_spans(
    audio: np.ndarray[Any, np.dtype[np.float32]],
    sample_rate_hz: int,
    min_ms: int = DIGITAL_SILENCE_MIN_MS,
) -> list[tuple[int, int]]:
    """Runs of at least `min_ms` where every channel is exactly zero, as (start_ms, end_ms)."""
    if audio.size == 0 or sample_rate_hz <= 0:
        return []
    # Column by column: np.all over axis 1 of a (frames, 2) array is ~20x slower.
    silent = audio[:, 0] == 0.0
    for channel in range(1, audio.shape[1]):
        silent &= audio[:, channel] == 0.0
    zero = silent.astype(np.int8)
    edges = np.diff(np.concatenate(([0], zero, [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    min_frames = min_ms * sample_rate_hz // 1000
    return [
        (int(a) * 1000 // sample_rate_hz, int(b) * 1000 // sample_rate_hz)
        for a, b in zip(starts, ends, strict=True)
        if b - a >= min_frames
    ]


def merge_spans(*groups: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The union of several span lists, sorted and with overlaps merged."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(span for group in groups for span in group):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged

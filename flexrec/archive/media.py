"""Fetching a recording's media from Twilio and checking that it is the WAV we expect."""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from flexrec.twilio.errors import GatewayError
from flexrec.twilio.gateway import ArchiveGateway, MediaSink

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
        raise _download_failed(exc) from exc


def download_wav_into(
    gateway: ArchiveGateway, media_url: str, channels: int, sink: MediaSink
) -> int:
    """`download_wav` handed to `sink` a slice at a time as it arrives; returns its size."""
    try:
        return gateway.download_media_into(media_url, channels, sink)
    except GatewayError as exc:
        raise _download_failed(exc) from exc


def _download_failed(exc: GatewayError) -> MediaError:
    # 404 right after completion is common while Twilio finishes processing: retry it.
    status = exc.status
    retryable = status is None or status in {404, 408, 409, 429} or status >= 500
    return MediaError(f"media download failed: {exc}", retryable)


def inspect_wav(data: bytes | Path) -> WavFacts:
    """Parse the WAV header (of the bytes, or of a file); raises `MediaError` if it is not a
    readable sound file."""
    try:
        info = sf.info(str(data) if isinstance(data, Path) else io.BytesIO(data))
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise MediaError(f"media is not a readable WAV: {exc}") from exc
    return WavFacts(int(info.channels), int(info.samplerate), int(info.frames))


def verify_wav(
    data: bytes | Path, expected_channels: int = 2, twilio_duration_s: int | None = None
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


def pcm16(data: bytes | memoryview) -> tuple[np.ndarray[Any, np.dtype[np.int16]], int]:
    """Samples as int16 of shape (frames, channels), and the sample rate.

    A 16-bit PCM WAV (what Twilio sends) is read in place, without a copy; anything else is
    decoded by libsndfile to 16 bits.
    """
    found = _pcm16_layout(data)
    if found is None:
        try:
            audio, rate = sf.read(io.BytesIO(data), dtype="int16", always_2d=True)
        except (RuntimeError, sf.LibsndfileError) as exc:
            raise MediaError(f"media is not a readable WAV: {exc}", False) from exc
        return audio, int(rate)
    channels, rate, offset, size = found
    frames = size // (2 * channels)
    samples = np.frombuffer(data, "<i2", count=frames * channels, offset=offset)
    return samples.reshape(frames, channels), rate


_WAVE_PCM, _WAVE_EXTENSIBLE = 1, 0xFFFE
# The PCM sub-format GUID of WAVE_FORMAT_EXTENSIBLE, after its first two bytes (the tag).
_PCM_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")


def _pcm16_layout(data: bytes | memoryview) -> tuple[int, int, int, int] | None:
    """(channels, rate, data offset, data bytes) of a little-endian 16-bit PCM WAV, else None."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    position, fmt = 12, None
    while position + 8 <= len(data):
        chunk, size = data[position : position + 4], struct.unpack_from("<I", data, position + 4)[0]
        body = position + 8
        if chunk == b"fmt " and size >= 16:
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag == _WAVE_EXTENSIBLE and size >= 40:
                pcm = data[body + 24 : body + 26] == b"\x01\x00" and (
                    data[body + 26 : body + 40] == _PCM_GUID_TAIL
                )
                tag = _WAVE_PCM if pcm else tag
            fmt = (tag, channels, rate, bits)
        elif chunk == b"data":
            if fmt is None or fmt[0] != _WAVE_PCM or fmt[3] != 16 or not fmt[1] or not fmt[2]:
                return None
            return fmt[1], fmt[2], body, min(size, len(data) - body)
        position = body + size + (size & 1)  # chunks are padded to an even length
    return None


# Real line audio is never exactly zero on both channels for long; a paused recording with
# pauseBehavior=silence is (Twilio writes digital silence), so such runs are taken as pauses.
DIGITAL_SILENCE_MIN_MS = 1000


def merge_spans(*groups: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The union of several span lists, sorted and with overlaps merged."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(span for group in groups for span in group):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged

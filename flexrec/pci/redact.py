"""Silencing spans of a recording: both channels, every other sample bit-identical.

The WAV is decoded to its 16-bit samples, the spans are overwritten (digital silence, or a
1 kHz tone for operators who want the cut to be heard), and the samples are written back as
16-bit PCM at the same rate: outside the spans the samples are the downloaded ones, unchanged.
The transcript loses every word inside a span; the channel the card data was spoken on shows
a marker such as `[card number]` there instead.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt
import soundfile

from flexrec.pci.detect import CARD_NUMBER, EXPIRY, SECURITY_CODE, Detection
from flexrec.transcription.base import Word

TONE_HZ = 1000.0
TONE_DBFS = -20.0
MARKERS = {CARD_NUMBER: "[card number]", EXPIRY: "[expiry]", SECURITY_CODE: "[security code]"}
MODES = ("silence", "tone")


class RedactionError(ValueError):
    """The audio cannot be redacted as asked (not 16-bit PCM WAV, unknown mode)."""


def decode_wav(wav: bytes) -> tuple[npt.NDArray[np.int16], int]:
    """16-bit samples, shape (frames, channels), and the sample rate."""
    try:
        info = soundfile.info(io.BytesIO(wav))
        if info.subtype != "PCM_16":
            raise RedactionError(f"expected 16-bit PCM WAV, got {info.subtype}")
        samples, rate = soundfile.read(io.BytesIO(wav), dtype="int16", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise RedactionError(f"not a readable WAV: {exc}") from exc
    return samples, int(rate)


def wav_duration_ms(wav: bytes) -> int:
    """The WAV's length in ms, from its header."""
    try:
        info = soundfile.info(io.BytesIO(wav))
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise RedactionError(f"not a readable WAV: {exc}") from exc
    return int(info.frames) * 1000 // int(info.samplerate)


def encode_wav(samples: npt.NDArray[np.int16], rate: int) -> bytes:
    """16-bit PCM WAV bytes."""
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def silence_samples(
    samples: npt.NDArray[np.int16], rate: int, spans_ms: Iterable[tuple[int, int]], mode: str
) -> npt.NDArray[np.int16]:
    """A copy with every span overwritten on all channels (silence or tone)."""
    if mode not in MODES:
        raise RedactionError(f"redaction mode must be one of {', '.join(MODES)}")
    out = samples.copy()
    for start_ms, end_ms in spans_ms:
        a = max(0, start_ms * rate // 1000)
        b = min(len(out), -(-end_ms * rate // 1000))
        if b <= a:
            continue
        if mode == "silence":
            out[a:b, :] = 0
        else:
            t = np.arange(a, b) / rate
            amplitude = 32767 * 10 ** (TONE_DBFS / 20)
            tone = np.rint(amplitude * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.int16)
            out[a:b, :] = tone[:, None]
    return out


def redact_wav(wav: bytes, spans_ms: Sequence[tuple[int, int]], mode: str = "silence") -> bytes:
    """The WAV with `spans_ms` silenced (or toned) on every channel."""
    samples, rate = decode_wav(wav)
    if not spans_ms:
        return wav
    return encode_wav(silence_samples(samples, rate, spans_ms, mode), rate)


def redact_transcript(
    channels: Mapping[int, Sequence[Word]],
    detections: Sequence[Detection],
    spans_ms: Sequence[tuple[int, int]],
) -> dict[int, list[Word]]:
    """Words outside the silenced spans, and a marker per detection on its channel."""
    out: dict[int, list[Word]] = {}
    for channel, words in channels.items():
        kept = [w for w in words if not any(w.start_ms < e and w.end_ms > s for s, e in spans_ms)]
        for detection in detections:
            if detection.channel == channel:
                marker = MARKERS.get(detection.kind, f"[{detection.kind.replace('_', ' ')}]")
                kept.append(Word(marker, detection.start_ms, detection.end_ms))
        out[channel] = sorted(kept, key=lambda w: (w.start_ms, w.end_ms))
    return out

"""Rendering a recording: its leg's plan sliced out of the cached sources, paused spans cut or
silenced, as 8 kHz 16-bit (or mu-law) channels."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from flexsim.audio.plan import LegPlan, SpeechPiece, plan_leg
from flexsim.audio.sources import loop_pieces, loop_slice, music_loop, noise_loop, voice_for
from flexsim.audio.spans import FloatArray, Span, db_to_gain, stable_int
from flexsim.speech.render import utterance_audio
from flexsim.world import Recording, World

DEFAULT_SAMPLE_RATE_HZ = 8000
SPEECH_LEVEL_DBFS = -20.0  # mean active-speech RMS; each utterance varies around it
SPEECH_LEVEL_SPREAD_DB = 3.0
MUSIC_LEVEL_DBFS = -25.0
CLICKS_PER_MINUTE = 3.0
CLICK_BLOCK_SECONDS = 10


# -- rendering ------------------------------------------------------------------------------------
def _index(t: float, origin: float, sr: int) -> int:
    return round((t - origin) * sr)


def _add_speech(buf: FloatArray, pieces: Sequence[SpeechPiece], plan: LegPlan, sr: int) -> None:
    fade = max(1, int(0.01 * sr))
    for piece in pieces:
        key = stable_int("utt", plan.seed, piece.speaker, round(piece.utterance_start * 1000))
        gain = db_to_gain(
            SPEECH_LEVEL_DBFS + ((key >> 20) % 1000 / 1000 - 0.5) * 2 * SPEECH_LEVEL_SPREAD_DB
        )
        a = max(0, _index(piece.start, plan.start, sr))
        b = min(len(buf), _index(piece.end, plan.start, sr))
        if b <= a:
            continue
        into = _index(piece.start, piece.utterance_start, sr)  # samples since the utterance began
        if plan.worded:
            spoken = utterance_audio(
                plan.seed,
                plan.voice_key(piece.speaker),
                piece.utterance_start,
                piece.utterance_end,
                piece.words,
                sr,
            )
            chunk = np.zeros(b - a, np.float32)
            part = spoken[into : into + (b - a)]
            chunk[: len(part)] = part
            buf[a:b] += chunk * np.float32(gain)
            continue
        voice = voice_for(plan.seed, piece.speaker, sr)
        onset = int(voice.phrase_onsets[key % len(voice.phrase_onsets)])
        chunk = loop_slice(voice.samples, onset + into, b - a) * gain
        # Fade the utterance's own edges (not the edges of a piece cut out of it by a hold).
        if into < fade:
            ramp = np.linspace(0, 1, fade, dtype=np.float32)[into : into + (b - a)]
            chunk[: len(ramp)] *= ramp
        left = _index(piece.utterance_end, piece.start, sr)  # samples to the utterance's end
        if left - fade < b - a:
            lo = max(0, left - fade)
            chunk[lo : min(b - a, left)] *= np.linspace(1, 0, fade, dtype=np.float32)[
                lo - (left - fade) : min(b - a, left) - (left - fade)
            ]
        buf[a:b] += chunk


def _add_music(
    buf: FloatArray, spans: Sequence[Span], loop: FloatArray, plan: LegPlan, sr: int
) -> None:
    gain = db_to_gain(MUSIC_LEVEL_DBFS)
    for start, end in spans:
        a = max(0, _index(start, plan.start, sr))
        b = min(len(buf), _index(end, plan.start, sr))
        if b > a:
            # Indexed by absolute time so the music runs on across pieces of one hold.
            buf[a:b] += loop_slice(loop, round(start * sr), b - a) * gain


def _add_line(buf: FloatArray, plan: LegPlan, channel: int, sr: int) -> None:
    """Fill `buf` with line noise and clicks, laid on absolute time (recordings agree)."""
    key = stable_int("line", plan.seed, plan.leg_key, channel)
    origin = round(plan.start * sr)
    noise, gain = noise_loop(sr), np.float32(db_to_gain(plan.noise_dbfs))
    # The buffer is empty when the noise goes in: write it in place rather than add.
    for dst, src, length in loop_pieces(len(noise), key % (2**20) + origin, len(buf)):
        np.multiply(noise[src : src + length], gain, out=buf[dst : dst + length])
    block = CLICK_BLOCK_SECONDS * sr
    width = max(4, int(0.003 * sr))
    decay = np.exp(-np.arange(width) / (width / 4)).astype(np.float32)
    for index in range(origin // block, (origin + len(buf)) // block + 1):
        rng = np.random.default_rng([key % (2**63), index])
        count = rng.poisson(CLICKS_PER_MINUTE * CLICK_BLOCK_SECONDS / 60.0)
        for at in rng.integers(0, block, count):
            pos = int(index * block + at - origin)
            if 0 <= pos < len(buf) - width:
                sign = np.where(rng.random(width) < 0.5, -1.0, 1.0).astype(np.float32)
                buf[pos : pos + width] += decay * sign * float(rng.uniform(0.03, 0.15))


def render_channels(
    world: World, recording: Recording, sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ
) -> tuple[FloatArray, FloatArray]:
    """Channel 1 (received from the leg) and channel 2 (sent to it), float, pauses applied."""
    plan = plan_leg(world, recording)
    sr = sample_rate_hz
    n = max(0, _index(plan.end, plan.start, sr))
    ch1 = np.empty(n, np.float32)
    ch2 = np.empty(n, np.float32)
    _add_line(ch1, plan, 1, sr)
    _add_line(ch2, plan, 2, sr)
    _add_speech(ch1, plan.channel1, plan, sr)
    _add_speech(ch2, plan.channel2, plan, sr)
    _add_music(ch2, plan.hold_music, music_loop(plan.seed % 4, sr), plan, sr)
    _add_music(ch2, plan.queue_music, music_loop(4 + plan.seed % 4, sr), plan, sr)
    for start, end in plan.silenced:
        a, b = _index(start, plan.start, sr), _index(end, plan.start, sr)
        ch1[a:b] = 0.0
        ch2[a:b] = 0.0
    if plan.skipped:
        keep = np.ones(n, bool)
        for start, end in plan.skipped:
            keep[_index(start, plan.start, sr) : _index(end, plan.start, sr)] = False
        ch1, ch2 = ch1[keep], ch2[keep]
    return ch1, ch2


def to_int16(samples: FloatArray) -> npt.NDArray[np.int16]:
    """Float samples (full scale 1.0) to clipped 16-bit PCM, through G.711 mu-law like a call."""
    scaled = samples * np.float32(32767.0)
    np.clip(scaled, -32768.0, 32767.0, out=scaled)
    linear = scaled.astype(np.int16)
    out: npt.NDArray[np.int16] = _mulaw_table()[linear.view(np.uint16)]
    return out


@lru_cache(maxsize=1)
def _mulaw_table() -> npt.NDArray[np.int16]:
    """Every 16-bit sample (indexed as uint16) after an 8-bit mu-law round trip (mu = 255)."""
    index = np.arange(65536, dtype=np.int64)
    x = np.where(index < 32768, index, index - 65536).astype(np.float64) / 32768.0
    mu = 255.0
    code = np.rint(np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu) * 127.0)
    back = np.sign(code) * ((1.0 + mu) ** (np.abs(code) / 127.0) - 1.0) / mu
    table: npt.NDArray[np.int16] = np.clip(np.rint(back * 32768.0), -32768, 32767).astype(np.int16)
    return table


def render_recording(
    world: World, recording: Recording, sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ
) -> npt.NDArray[np.int16]:
    """The recording's stored audio: int16, shape (n, channels) with channels 1 or 2.

    A mono recording holds the sum of both directions (`track` "both"), or only what the leg
    sent (`inbound`, channel 1) or received (`outbound`, channel 2).
    """
    ch1, ch2 = render_channels(world, recording, sample_rate_hz)
    if recording.channels >= 2:
        both = np.empty((len(ch1), 2), np.int16)
        both[:, 0] = to_int16(ch1)
        both[:, 1] = to_int16(ch2)
        return both
    if recording.track == "inbound":
        mono = ch1
    elif recording.track == "outbound":
        mono = ch2
    else:
        mono = ch1 + ch2
    return to_int16(mono)[:, None]

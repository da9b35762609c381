"""The cached sources a recording is sliced from: synthetic voices, hold music, line noise."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from flexsim.audio.spans import FloatArray, stable_int

VOICE_SECONDS = 20.0
WORD_FLOOR = 0.15  # envelope between the syllables of a word (about -16 dB)
SYLLABLE_SHAPE = 0.8  # syllable envelope sin(pi t)^k: vowel nucleus, weaker consonant edges
VOICE_PEAK = 4.0  # soft peak limit, in units of the voice's RMS
VOICE_PITCHES = 16  # 90..250 Hz
VOICE_TRACTS = 4  # formant scales: voices = pitches x tracts, all kept cached
MUSIC_SECONDS = 16.0
NOISE_SECONDS = 8.0


# -- cached sources --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Voice:
    """A pre-rendered stretch of one voice, unit active-speech RMS, with phrase onsets."""

    samples: FloatArray
    phrase_onsets: npt.NDArray[np.int64]


@lru_cache(maxsize=VOICE_PITCHES * VOICE_TRACTS * 2)
def _voice(voice_id: int, sr: int) -> Voice:
    """Synthesize a voice: pitch 90-250 Hz with drift, 3 formants per syllable, fricatives."""
    rng = np.random.default_rng(voice_id)
    n = int(VOICE_SECONDS * sr)
    f0_base = 90.0 + (voice_id % VOICE_PITCHES) * 160.0 / (VOICE_PITCHES - 1)
    formant_scale = 0.88 + 0.08 * ((voice_id // VOICE_PITCHES) % VOICE_TRACTS)  # tract length

    # Phrases of syllables separated by short word gaps (bridged by any sensible VAD).
    envelope = np.zeros(n, np.float32)
    fric_env = np.zeros(n, np.float32)
    formant_track = np.zeros((n // 64 + 2, 3), np.float32)  # per 64-sample hop
    onsets: list[int] = []
    words: list[tuple[int, int]] = []
    pos = int(0.05 * sr)
    # Whole phrases only (a phrase is at most 12 x 0.25 s): the loop then ends in a normal gap.
    while pos < n - int(3.2 * sr):
        onsets.append(pos)
        word_start, word_left = pos, 0
        for _ in range(int(rng.integers(3, 12))):
            dur = int(rng.uniform(0.15, 0.25) * sr)
            if pos + dur >= n - int(0.05 * sr):
                break
            if word_left == 0:
                if pos > word_start:
                    words.append((word_start, pos))
                word_start, word_left = pos, int(rng.integers(1, 4))
            word_left -= 1
            fric = rng.random() < 0.3
            voiced_start = pos
            if fric:
                fdur = int(rng.uniform(0.04, 0.08) * sr)
                fric_env[pos : pos + fdur] = np.hanning(fdur).astype(np.float32) * rng.uniform(
                    0.3, 0.6
                )
                voiced_start = pos + fdur // 2
            vdur = pos + dur - voiced_start
            shape = (
                np.abs(np.sin(np.linspace(0, math.pi, vdur, dtype=np.float32))) ** SYLLABLE_SHAPE
            )
            envelope[voiced_start : voiced_start + vdur] = shape * rng.uniform(0.6, 1.0)
            targets = (
                rng.uniform(300, 800),
                rng.uniform(900, 2300),
                rng.uniform(2400, 3200),
            )
            formant_track[pos // 64 : (pos + dur) // 64 + 1] = np.array(targets) * formant_scale
            pos += dur
        words.append((word_start, pos))
        pos += int(rng.uniform(0.06, 0.2) * sr)
    # Syllables of one word run into each other: the energy dips between them, never to zero.
    ramp = int(0.015 * sr)
    for start, end in words:
        if end - start > 2 * ramp:
            floor = np.full(end - start, WORD_FLOOR, np.float32)
            floor[:ramp] *= np.linspace(0, 1, ramp, dtype=np.float32)
            floor[-ramp:] *= np.linspace(1, 0, ramp, dtype=np.float32)
            np.maximum(envelope[start:end], floor, out=envelope[start:end])
    # Smooth formant jumps into ~30 ms transitions.
    kernel = np.ones(4, np.float32) / 4
    for k in range(3):
        col = formant_track[:, k]
        col[col == 0] = np.median(col[col > 0]) if np.any(col > 0) else 500.0
        formant_track[:, k] = np.convolve(col, kernel, mode="same")

    # Pitch: phrase declination plus slow wobble (intonation), then a pulse train from the phase.
    t = np.arange(n, dtype=np.float64) / sr
    wobble = 0.06 * np.sin(2 * math.pi * 0.7 * t + rng.uniform(0, 6)) + 0.04 * np.sin(
        2 * math.pi * 2.3 * t + rng.uniform(0, 6)
    )
    decl = np.zeros(n)
    for i, start in enumerate(onsets):
        stop = onsets[i + 1] if i + 1 < len(onsets) else n
        decl[start:stop] = np.linspace(0.08, -0.08, stop - start)
    f0 = f0_base * (1 + wobble + decl)
    phase = np.cumsum(f0 / sr)
    pulses = np.zeros(n, np.float32)
    # Pulse height sqrt(period) gives the train unit power whatever the pitch.
    pulses[np.nonzero(np.diff(np.floor(phase)) > 0)[0] + 1] = math.sqrt(sr / f0_base)
    source = pulses * envelope
    noise = rng.standard_normal(n).astype(np.float32)
    source += 0.15 * noise * envelope  # breathiness
    fric_noise = np.diff(noise, prepend=0.0).astype(np.float32) * fric_env

    # Time-varying filter by overlapping FFT frames: sqrt-Hann in and out, hop N/2 (sums to 1).
    frame, hop = 256, 128
    padded = np.concatenate([np.zeros(frame, np.float32), source, np.zeros(frame, np.float32)])
    count = (len(padded) - frame) // hop + 1
    idx = np.arange(frame)[None, :] + hop * np.arange(count)[:, None]
    window = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame) / frame)).astype(np.float32)
    spec = np.fft.rfft(padded[idx] * window, axis=1)
    freqs = np.fft.rfftfreq(frame, 1 / sr).astype(np.float32)
    w = (2 * np.pi * freqs / sr)[None, :]
    centre = np.clip(np.arange(count) * hop - frame // 2, 0, n - 1) // 64
    # Glottal source falls ~12 dB/octave, lip radiation lifts ~6: a net -6 dB/octave tilt.
    tilt = (1.0 / np.sqrt(1.0 + (freqs / 300.0) ** 2)).astype(np.float32)[None, :]
    # Parallel formant resonators (two-pole), |H| per frame and bin in real arithmetic:
    # |1 - 2r cos(t) z^-1 + r^2 z^-2| = |1 - r e^{i(t-w)}| * |1 - r e^{-i(t+w)}|.
    gains = np.full((count, freqs.size), 0.02, np.float32)
    for k, (bandwidth, amp) in enumerate(((80.0, 1.0), (110.0, 0.6), (160.0, 0.35))):
        r = np.float32(math.exp(-math.pi * bandwidth / sr))
        theta = (2 * np.pi * formant_track[centre, k] / sr).astype(np.float32)[:, None]
        den = np.sqrt(
            (1 + r * r - 2 * r * np.cos(theta - w)) * (1 + r * r - 2 * r * np.cos(theta + w))
        )
        peak = (1 - r) * np.sqrt(1 + r * r - 2 * r * np.cos(2 * theta))
        gains += amp * peak / den
    frames_out = np.fft.irfft(spec * (gains * tilt), n=frame, axis=1).astype(np.float32) * window
    # Overlap-add: even frames do not overlap each other, nor do odd ones: two reshapes.
    out = np.zeros(len(padded) + frame, np.float32)
    for phase0 in range(frame // hop):
        group = frames_out[phase0 :: frame // hop].reshape(-1)
        out[phase0 * hop : phase0 * hop + group.size] += group
    voiced = out[frame : frame + n]
    samples = voiced + fric_noise * 0.5
    active = envelope > 0.05
    rms = float(np.sqrt(np.mean(samples[active] ** 2))) if np.any(active) else 1.0
    samples /= max(rms, 1e-9)
    # A gentle limiter (as phone audio paths have): peaks stay within ~12 dB of the RMS, so a
    # loud utterance (-17 dBFS) never clips.
    samples = np.tanh(samples / VOICE_PEAK) * VOICE_PEAK
    samples /= float(np.sqrt(np.mean(samples[active] ** 2))) if np.any(active) else 1.0
    return Voice(samples[:pos].astype(np.float32), np.array(onsets, dtype=np.int64))


def voice_for(seed: int, speaker: str, sr: int) -> Voice:
    """The cached voice of `speaker` in a conversation with `seed`."""
    return _voice(stable_int("voice", seed, speaker) % (VOICE_PITCHES * VOICE_TRACTS), sr)


_NOTE_HZ = [196.0, 220.0, 246.9, 261.6, 293.7, 329.6, 349.2, 392.0, 440.0, 493.9, 523.3, 587.3]
_CHORDS = [(0, 2, 4), (3, 5, 7), (4, 6, 8), (1, 3, 5), (5, 7, 9), (2, 4, 6)]


@lru_cache(maxsize=8)
def music_loop(variant: int, sr: int) -> FloatArray:
    """A steady tonal loop: sustained chords under a legato melody, unit RMS."""
    rng = np.random.default_rng(1000 + variant)
    n = int(MUSIC_SECONDS * sr)
    t = np.arange(n, dtype=np.float32) / sr
    out = np.zeros(n, np.float32)
    chord_len = n // 8
    note_len = chord_len // 4
    fade = int(0.02 * sr)
    ramp = np.ones(chord_len, np.float32)
    ramp[:fade] = np.linspace(0, 1, fade)
    ramp[-fade:] = np.linspace(1, 0, fade)
    note_ramp = ramp[:note_len].copy()
    note_ramp[-fade:] = np.linspace(1, 0, fade)
    for c in range(8):
        chord = _CHORDS[int(rng.integers(len(_CHORDS)))]
        sl = slice(c * chord_len, (c + 1) * chord_len)
        for degree in chord:
            hz = _NOTE_HZ[degree] / 2
            out[sl] += ramp * (
                np.sin(2 * np.pi * hz * t[sl]) + 0.3 * np.sin(4 * np.pi * hz * t[sl])
            )
        for m in range(4):
            msl = slice(c * chord_len + m * note_len, c * chord_len + (m + 1) * note_len)
            hz = _NOTE_HZ[chord[int(rng.integers(3))]]
            out[msl] += (
                0.8
                * note_ramp
                * (np.sin(2 * np.pi * hz * t[msl]) + 0.2 * np.sin(6 * np.pi * hz * t[msl]))
            )
    return (out / float(np.sqrt(np.mean(out**2)))).astype(np.float32)


@lru_cache(maxsize=2)
def noise_loop(sr: int) -> FloatArray:
    """A loop of unit-RMS broadband noise; legs read it at different offsets."""
    rng = np.random.default_rng(7)
    return rng.standard_normal(int(NOISE_SECONDS * sr)).astype(np.float32)


def loop_pieces(loop_len: int, first: int, count: int) -> Iterable[tuple[int, int, int]]:
    """(destination offset, source start, length) runs reading a loop from absolute `first`."""
    done = 0
    src = first % loop_len
    while done < count:
        length = min(count - done, loop_len - src)
        yield done, src, length
        done += length
        src = 0


def loop_slice(loop: FloatArray, first: int, count: int) -> FloatArray:
    """`count` samples of a loop starting at absolute index `first` (wrapping around)."""
    start = first % len(loop)
    if start + count <= len(loop):
        return loop[start : start + count]
    return np.concatenate(
        [loop[src : src + length] for _, src, length in loop_pieces(len(loop), first, count)]
    )

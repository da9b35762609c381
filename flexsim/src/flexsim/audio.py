"""What a simulated recording holds: the audio its leg carried, rendered from the timeline.

A recording on leg L (party P) holds, from its start to its end (or now while running):
channel 1 = audio received from L (P's speech and the leg's line noise), channel 2 = audio sent
to L (everyone else present, hold music while the customer is on hold, queue audio before an
agent joins). Pauses either cut their span out (`skip`) or write digital silence (`silence`).

Synthesis is cheap because it is cached: each voice is a pre-rendered stretch of speech-like
audio (glottal pulses through per-syllable formant resonators) that utterances slice into; hold
music and line noise are pre-rendered loops. Rendering a recording is then slicing and adding.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from flexsim.speech.render import utterance_audio, utterance_words
from flexsim.speech.script import voice_keys
from flexsim.speech.words import Word
from flexsim.timeline import CUSTOMER, THIRD_PARTY, Timeline
from flexsim.world import Call, Recording, World

FloatArray = npt.NDArray[np.float32]
Span = tuple[float, float]

DEFAULT_SAMPLE_RATE_HZ = 8000
SPEECH_LEVEL_DBFS = -20.0  # mean active-speech RMS; each utterance varies around it
SPEECH_LEVEL_SPREAD_DB = 3.0
MUSIC_LEVEL_DBFS = -25.0
VOICE_SECONDS = 20.0
WORD_FLOOR = 0.15  # envelope between the syllables of a word (about -16 dB)
SYLLABLE_SHAPE = 0.8  # syllable envelope sin(pi t)^k: vowel nucleus, weaker consonant edges
VOICE_PEAK = 4.0  # soft peak limit, in units of the voice's RMS
VOICE_PITCHES = 16  # 90..250 Hz
VOICE_TRACTS = 4  # formant scales: voices = pitches x tracts, all kept cached
MUSIC_SECONDS = 16.0
NOISE_SECONDS = 8.0
CLICKS_PER_MINUTE = 3.0
CLICK_BLOCK_SECONDS = 10

_INF = math.inf


# -- deterministic randomness -------------------------------------------------------------------
def stable_int(*parts: object) -> int:
    """A 64-bit integer fixed by its parts (Python's own hash() changes between runs)."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def _db_to_gain(dbfs: float) -> float:
    return float(10.0 ** (dbfs / 20.0))


# -- interval arithmetic (epoch seconds) -----------------------------------------------------------
def _merge(spans: Iterable[Span]) -> list[Span]:
    out: list[Span] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _intersect(a: Sequence[Span], b: Sequence[Span]) -> list[Span]:
    out: list[Span] = []
    for s1, e1 in a:
        for s2, e2 in b:
            start, end = max(s1, s2), min(e1, e2)
            if end > start:
                out.append((start, end))
    return _merge(out)


def _subtract(a: Sequence[Span], b: Sequence[Span]) -> list[Span]:
    out = list(a)
    for s2, e2 in _merge(b):
        nxt: list[Span] = []
        for s1, e1 in out:
            if e2 <= s1 or s2 >= e1:
                nxt.append((s1, e1))
                continue
            if s1 < s2:
                nxt.append((s1, s2))
            if e2 < e1:
                nxt.append((e2, e1))
        out = nxt
    return out


# -- what the leg carried ------------------------------------------------------------------------
@dataclass(frozen=True)
class SpeechPiece:
    """Part of one utterance heard on a channel; `utterance_start` keys its audio."""

    speaker: str
    utterance_start: float
    utterance_end: float
    start: float
    end: float
    words: tuple[Word, ...] = ()  # a scripted utterance's words (others are filled in)


@dataclass
class LegPlan:
    """Everything a recording's two channels carry, in epoch seconds, before pauses."""

    start: float
    end: float
    seed: int
    noise_dbfs: float
    channel1: list[SpeechPiece] = field(default_factory=list)
    channel2: list[SpeechPiece] = field(default_factory=list)
    hold_music: list[Span] = field(default_factory=list)
    queue_music: list[Span] = field(default_factory=list)
    silenced: list[Span] = field(default_factory=list)  # pauses with behavior "silence"
    skipped: list[Span] = field(default_factory=list)  # pauses with behavior "skip"
    leg_key: str = ""
    worded: bool = False  # speech in real words (flexsim.speech), not formant voices
    voice_keys: dict[str, str] = field(default_factory=dict)  # speaker -> stable voice key

    def voice_key(self, speaker: str) -> str:
        """Whose voice and words a speaker has (salt-independent, flexsim.speech.script)."""
        return self.voice_keys.get(speaker, speaker)


def _party_speaker(call: Call, timeline: Timeline | None) -> str:
    if call.party == "customer":
        return CUSTOMER
    if call.party == "third":
        return THIRD_PARTY
    if call.worker_sid:
        return call.worker_sid
    if timeline is not None:
        for presence in timeline.presences:
            if presence.call_sid == call.sid:
                return presence.speaker
    return call.sid


def _presence_spans(
    timeline: Timeline, *, speaker: str | None = None, call_sid: str | None = None
) -> list[Span]:
    return _merge(
        (p.start, p.end if p.end is not None else _INF)
        for p in timeline.presences
        if (speaker is None or p.speaker == speaker)
        and (call_sid is None or p.call_sid == call_sid)
    )


def plan_leg(world: World, recording: Recording) -> LegPlan:
    """Work out what each channel of `recording` carried (epoch seconds, pauses listed apart)."""
    # Media is rendered off the engine's thread: copy what is read under the world lock.
    with world.lock:
        call = copy.copy(world.calls[recording.call_sid])
        end = recording.end_time if recording.end_time is not None else world.clock.now()
        start = recording.start_time
        pauses = [
            (p.start, p.end if p.end is not None else end, p.behavior) for p in recording.pauses
        ]
        live = world.timelines.get(call.interaction_id or "")
        timeline = None
        if live is not None:
            timeline = copy.copy(live)
            timeline.utterances = list(live.utterances)
            timeline.presences = list(live.presences)
            timeline.holds = list(live.holds)
            timeline.queue_audio = list(live.queue_audio)
    window: list[Span] = [(start, max(start, end))]
    pauses_skip = [(a, b) for a, b, behavior in pauses if behavior == "skip"]
    pauses_silence = [(a, b) for a, b, behavior in pauses if behavior == "silence"]
    plan = LegPlan(
        start=start,
        end=max(start, end),
        seed=timeline.seed if timeline is not None else stable_int(call.sid) % (2**31),
        noise_dbfs=timeline.noise_dbfs if timeline is not None else -60.0,
        silenced=_intersect(_merge(pauses_silence), window),
        skipped=_intersect(_merge(pauses_skip), window),
        leg_key=call.sid,
        worded=timeline.worded if timeline is not None else False,
    )
    if timeline is None:
        return plan
    plan.voice_keys = voice_keys([p.speaker for p in timeline.presences])

    own = _party_speaker(call, timeline)
    leg_up: list[Span] = [
        (
            call.start_time if call.start_time is not None else -_INF,
            call.end_time if call.end_time is not None else _INF,
        )
    ]
    in_conversation = _presence_spans(timeline, call_sid=call.sid) or leg_up
    holds = _merge(timeline.holds)
    is_customer_leg = own == CUSTOMER

    for utt in timeline.utterances:
        spoken = _intersect([(utt.start, utt.end)], window)
        if not spoken:
            continue
        if utt.speaker == own:
            heard = _intersect(spoken, leg_up)
            target = plan.channel1
        else:
            heard = _intersect(spoken, in_conversation)
            speaker_present = _presence_spans(timeline, speaker=utt.speaker)
            if speaker_present:
                heard = _intersect(heard, speaker_present)
            # The customer on hold hears music only; the agents hear nothing of the customer.
            if is_customer_leg or utt.speaker == CUSTOMER:
                heard = _subtract(heard, holds)
            target = plan.channel2
        target.extend(
            SpeechPiece(utt.speaker, utt.start, utt.end, s, e, utt.words) for s, e in heard
        )

    if is_customer_leg:
        plan.hold_music = _intersect(_intersect(holds, window), leg_up)
        plan.queue_music = _subtract(
            _intersect(_intersect(_merge(timeline.queue_audio), window), leg_up), plan.hold_music
        )
    return plan


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
def _music(variant: int, sr: int) -> FloatArray:
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
def _noise(sr: int) -> FloatArray:
    """A loop of unit-RMS broadband noise; legs read it at different offsets."""
    rng = np.random.default_rng(7)
    return rng.standard_normal(int(NOISE_SECONDS * sr)).astype(np.float32)


def _loop_pieces(loop_len: int, first: int, count: int) -> Iterable[tuple[int, int, int]]:
    """(destination offset, source start, length) runs reading a loop from absolute `first`."""
    done = 0
    src = first % loop_len
    while done < count:
        length = min(count - done, loop_len - src)
        yield done, src, length
        done += length
        src = 0


def _loop_slice(loop: FloatArray, first: int, count: int) -> FloatArray:
    """`count` samples of a loop starting at absolute index `first` (wrapping around)."""
    start = first % len(loop)
    if start + count <= len(loop):
        return loop[start : start + count]
    return np.concatenate(
        [loop[src : src + length] for _, src, length in _loop_pieces(len(loop), first, count)]
    )


# -- rendering ------------------------------------------------------------------------------------
def _index(t: float, origin: float, sr: int) -> int:
    return round((t - origin) * sr)


def _add_speech(buf: FloatArray, pieces: Sequence[SpeechPiece], plan: LegPlan, sr: int) -> None:
    fade = max(1, int(0.01 * sr))
    for piece in pieces:
        key = stable_int("utt", plan.seed, piece.speaker, round(piece.utterance_start * 1000))
        gain = _db_to_gain(
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
        chunk = _loop_slice(voice.samples, onset + into, b - a) * gain
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
    gain = _db_to_gain(MUSIC_LEVEL_DBFS)
    for start, end in spans:
        a = max(0, _index(start, plan.start, sr))
        b = min(len(buf), _index(end, plan.start, sr))
        if b > a:
            # Indexed by absolute time so the music runs on across pieces of one hold.
            buf[a:b] += _loop_slice(loop, round(start * sr), b - a) * gain


def _add_line(buf: FloatArray, plan: LegPlan, channel: int, sr: int) -> None:
    """Fill `buf` with line noise and clicks, laid on absolute time (recordings agree)."""
    key = stable_int("line", plan.seed, plan.leg_key, channel)
    origin = round(plan.start * sr)
    noise, gain = _noise(sr), np.float32(_db_to_gain(plan.noise_dbfs))
    # The buffer is empty when the noise goes in: write it in place rather than add.
    for dst, src, length in _loop_pieces(len(noise), key % (2**20) + origin, len(buf)):
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
    _add_music(ch2, plan.hold_music, _music(plan.seed % 4, sr), plan, sr)
    _add_music(ch2, plan.queue_music, _music(4 + plan.seed % 4, sr), plan, sr)
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


WORD_GAP_BRIDGED_S = 0.3  # gaps between words of one phrase are still "speaking"


def _spoken_spans(plan: LegPlan, piece: SpeechPiece) -> Iterable[Span]:
    """Where a piece really has speech: its words (gaps under 0.3 s bridged), or all of it."""
    if not plan.worded:
        yield piece.start, piece.end
        return
    words = utterance_words(
        plan.seed,
        plan.voice_key(piece.speaker),
        piece.utterance_start,
        piece.utterance_end,
        piece.words,
    )
    current: Span | None = None
    for word in words:
        start, end = max(word.start, piece.start), min(word.end, piece.end)
        if end <= start:
            continue
        if current is not None and start - current[1] <= WORD_GAP_BRIDGED_S:
            current = (current[0], end)
            continue
        if current is not None:
            yield current
        current = (start, end)
    if current is not None:
        yield current


def truth_segments(world: World, recording: Recording) -> dict[str, list[tuple[int, int]]]:
    """Speech heard on each channel, in recording-relative ms (pauses removed/cut out).

    Keys "channel1" and "channel2"; hold and queue music are not speech.
    """
    plan = plan_leg(world, recording)
    skipped = plan.skipped

    def media_ms(t: float) -> int:
        removed = sum(max(0.0, min(e, t) - s) for s, e in skipped if s < t)
        return round((t - plan.start - removed) * 1000)

    out: dict[str, list[tuple[int, int]]] = {}
    for name, pieces in (("channel1", plan.channel1), ("channel2", plan.channel2)):
        spans = _merge(span for p in pieces for span in _spoken_spans(plan, p))
        spans = _subtract(spans, plan.silenced + skipped)
        segments: list[tuple[int, int]] = []
        for start, end in spans:
            a, b = media_ms(start), media_ms(end)
            if segments and a <= segments[-1][1]:
                segments[-1] = (segments[-1][0], max(segments[-1][1], b))
            elif b > a:
                segments.append((a, b))
        out[name] = segments
    return out

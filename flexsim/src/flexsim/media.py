"""Recording media files as the simulator serves them: WAV (16-bit PCM, 8 kHz) or MP3.

`RequestedChannels` follows Twilio: a dual recording downloads with its two stored channels
unless 1 is asked for (then a clipped mono mix); a mono recording asked for 2 channels is
refused with warning 16113 ("Cannot download a dual-channel presentation of a mono recording").
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import soundfile

from flexsim.audio import DEFAULT_SAMPLE_RATE_HZ, render_recording, truth_segments
from flexsim.speech.payment import plan_payment
from flexsim.timeline import CUSTOMER, Presence, Timeline, Utterance
from flexsim.world import GivenMedia, Recording, SimClock, World

__all__ = [
    "MEDIA_TYPES",
    "MediaFacts",
    "MediaRequestError",
    "SampleConversation",
    "encode_audio",
    "given_media_bytes",
    "inspect_media",
    "make_sample_conversation",
    "render_media",
    "truth_segments",
]

MEDIA_TYPES = {"wav": "audio/x-wav", "mp3": "audio/mpeg"}
_FORMATS = {"wav": ("WAV", "PCM_16"), "mp3": ("MP3", "MPEG_LAYER_III")}


class MediaRequestError(ValueError):
    """A media request Twilio would refuse; `code` is Twilio's error code, `status` the HTTP one."""

    def __init__(self, message: str, code: int, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def encode_audio(
    samples: npt.NDArray[np.int16], fmt: str, sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ
) -> bytes:
    """Encode int16 samples of shape (n, channels) as a WAV or MP3 file."""
    if fmt not in _FORMATS:
        raise MediaRequestError(f"unsupported media format {fmt!r}: use wav or mp3", code=20001)
    container, subtype = _FORMATS[fmt]
    if fmt == "mp3" and "MP3" not in soundfile.available_formats():
        raise RuntimeError("this libsndfile cannot write MP3; download the recording as .wav")
    buf = io.BytesIO()
    data = samples if len(samples) else np.zeros((1, samples.shape[1]), np.int16)
    soundfile.write(buf, data, sample_rate_hz, format=container, subtype=subtype)
    return buf.getvalue()


def mono_mix(samples: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    """Sum the channels into one, clipped to 16 bits."""
    total = samples.astype(np.int32).sum(axis=1, keepdims=True)
    out: npt.NDArray[np.int16] = np.clip(total, -32768, 32767).astype(np.int16)
    return out


@dataclass(frozen=True)
class MediaFacts:
    """What a WAV or MP3 file holds, read from the file itself."""

    fmt: Literal["wav", "mp3"]
    channels: int
    sample_rate_hz: int
    duration_s: float


def inspect_media(data: bytes) -> MediaFacts | None:
    """The format, channels, rate and length of a WAV or MP3 file; None when libsndfile
    cannot read it (or it is neither)."""
    try:
        info = soundfile.info(io.BytesIO(data))
    except (RuntimeError, soundfile.LibsndfileError):
        return None
    kinds: dict[str, Literal["wav", "mp3"]] = {"WAV": "wav", "WAVEX": "wav", "MP3": "mp3"}
    fmt = kinds.get(str(info.format))
    if fmt is None or info.samplerate <= 0:
        return None
    return MediaFacts(fmt, int(info.channels), int(info.samplerate), info.frames / info.samplerate)


def given_media_bytes(
    media: GivenMedia, fmt: str, requested_channels: int | None, channels: int
) -> bytes:
    """The bytes of `/Recordings/{RE}.wav|.mp3` for media a client supplied, of a recording
    whose resource says `channels`: the file as given when the format matches and the
    channels asked for are the resource's (even where the file disagrees: a test arranged
    that), else decoded and encoded again (a mono mix for RequestedChannels=1)."""
    _check_channels(channels, requested_channels)
    wanted = requested_channels or channels
    if fmt == media.fmt and wanted == channels:
        return media.data
    if media.sample_rate_hz is None:
        raise MediaRequestError(f"the arranged media cannot be served as {fmt}", code=20001)
    samples, rate = soundfile.read(io.BytesIO(media.data), dtype="int16", always_2d=True)
    if wanted == 1 and samples.shape[1] > 1:
        samples = mono_mix(samples)
    return encode_audio(samples, fmt, int(rate))


def _check_channels(channels: int, requested_channels: int | None) -> None:
    if requested_channels not in (None, 1, 2):
        raise MediaRequestError("RequestedChannels must be 1 or 2", code=20001)
    if requested_channels == 2 and channels < 2:
        raise MediaRequestError(
            "Cannot download a dual-channel presentation of a mono recording", code=16113
        )


def render_media(
    world: World, recording: Recording, fmt: str, requested_channels: int | None
) -> bytes:
    """The bytes of `/Recordings/{RE}.wav|.mp3` for `recording` (RequestedChannels honoured;
    the client's own media when it arranged some)."""
    if recording.media is not None:
        return given_media_bytes(recording.media, fmt, requested_channels, recording.channels)
    _check_channels(recording.channels, requested_channels)
    samples = render_recording(world, recording, DEFAULT_SAMPLE_RATE_HZ)
    if requested_channels == 1 and samples.shape[1] > 1:
        samples = mono_mix(samples)
    return encode_audio(samples, fmt, DEFAULT_SAMPLE_RATE_HZ)


@dataclass
class SampleConversation:
    """A finished simulated call: its world, timeline and dual recordings on both legs."""

    world: World
    timeline: Timeline
    customer_recording: Recording
    worker_recording: Recording


def make_sample_conversation(
    seed: int,
    *,
    duration_s: float = 60.0,
    queue_s: float = 5.0,
    hold_s: float = 0.0,
    noise_dbfs: float = -55.0,
    pause: tuple[float, float, str] | None = None,
    record_from_s: float = 0.0,
    worded: bool = True,
    card_pause: str | None = None,
) -> SampleConversation:
    """Simulate one inbound call (queue audio, agent talk, optional hold and pause) and record it.

    Times are seconds from the customer's answer. `pause` is (start, end, behavior) on both
    recordings. Used by tests, benches and demos that need realistic audio without the engine.
    `worded` False gives the older wordless formant speech; `card_pause` (in_time, late,
    never) adds a scripted card payment from 8 s after the agent joins, the recordings paused
    as that variant says (and `pause` then ignored).
    """
    rng = random.Random(seed)
    t0 = 1_700_000_000.0
    world = World(clock=SimClock(scale=0, start_epoch=t0), seed=seed)
    worker = world.add_worker(f"agent-{seed}", {"contact_uri": f"client:agent{seed}"})
    interaction = f"IX{seed:032x}"
    customer = world.create_call(
        from_="+15550100",
        to="+15550199",
        direction="inbound",
        party="customer",
        interaction_id=interaction,
    )
    agent_leg = world.create_call(
        from_="+15550199",
        to=f"client:agent{seed}",
        direction="outbound-api",
        party="worker",
        interaction_id=interaction,
        worker_sid=worker.sid,
    )
    joined = t0 + queue_s
    end = t0 + duration_s
    timeline = Timeline(
        interaction_id=interaction,
        customer_call_sid=customer.sid,
        direction="inbound",
        seed=seed,
        noise_dbfs=noise_dbfs,
        customer_answered_at=t0,
        agent_connected_at=joined,
        ended_at=end,
        worded=worded,
    )
    payment = None
    if card_pause is not None:
        payment = plan_payment(
            seed, random.Random(f"payment:{seed}"), CUSTOMER, worker.sid, joined + 8.0, card_pause
        )
        timeline.payment = payment
        timeline.utterances.extend(payment.utterances)
        if payment.pause_at is not None and payment.resume_at is not None:
            pause = (payment.pause_at - t0, payment.resume_at - t0, "silence")
    if queue_s > 0:
        timeline.queue_audio.append((t0 + 0.5, joined))
    timeline.presences.append(Presence(CUSTOMER, customer.sid, joined, end))
    timeline.presences.append(Presence(worker.sid, agent_leg.sid, joined, end))
    hold = None
    if hold_s > 0:
        hold_start = joined + (end - joined - hold_s) / 2
        hold = (hold_start, hold_start + hold_s)
        timeline.holds.append(hold)
    # Turns alternate, agent first; some overlap (backchannels, interruptions), most leave a gap.
    t, speaker = joined + 0.4, worker.sid
    while t < end - 1.5:
        if hold and hold[0] - 0.5 < t < hold[1]:
            t, speaker = hold[1] + 0.3, worker.sid
            continue
        length = min(rng.uniform(1.0, 7.0), end - 0.5 - t)
        if hold and t < hold[0] < t + length:
            length = hold[0] - t - 0.3
        if payment is not None and t < payment.end + 0.5 and t + length > payment.start - 0.5:
            t, speaker = payment.end + 0.6, CUSTOMER
            continue
        if length >= 0.5:
            timeline.utterances.append(Utterance(speaker, t, t + length))
            if rng.random() < 0.15 and length > 3:
                other = CUSTOMER if speaker != CUSTOMER else worker.sid
                bc = t + rng.uniform(1.0, length - 1.5)
                timeline.utterances.append(Utterance(other, bc, bc + rng.uniform(0.3, 0.8)))
        t += length + rng.uniform(-0.4, 1.5)
        speaker = CUSTOMER if speaker != CUSTOMER else worker.sid
    world.timelines[interaction] = timeline

    world.set_call_status(customer, "in-progress")
    # The customer leg is recorded from `record_from_s` (queue audio included if that is
    # before the agent joins); the agent leg from whichever is later, its join or that.
    steps = sorted([(record_from_s, "customer"), (max(record_from_s, queue_s), "worker")])
    recordings: dict[str, Recording] = {}
    for at, which in steps:
        if at >= queue_s and agent_leg.status != "in-progress":
            world.clock.advance(t0 + queue_s - world.clock.now())
            world.set_call_status(agent_leg, "in-progress")
        world.clock.advance(max(0.0, t0 + at - world.clock.now()))
        leg = customer if which == "customer" else agent_leg
        recordings[which] = world.start_recording(leg, channels=2)
    rec_customer, rec_worker = recordings["customer"], recordings["worker"]
    if pause is not None:
        world.clock.advance(t0 + pause[0] - world.clock.now())
        behavior: Literal["skip", "silence"] = "skip" if pause[2] == "skip" else "silence"
        world.pause_recording(rec_customer, behavior)
        world.pause_recording(rec_worker, behavior)
        world.clock.advance(pause[1] - pause[0])
        world.resume_recording(rec_customer)
        world.resume_recording(rec_worker)
    world.clock.advance(end - world.clock.now())
    world.set_call_status(agent_leg, "completed")
    world.set_call_status(customer, "completed")
    return SampleConversation(world, timeline, rec_customer, rec_worker)

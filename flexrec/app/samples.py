"""Synthetic archived calls for trying the console and for its tests (no Twilio, no simulator).

Each call is a scripted conversation rendered into a dual-channel 8 kHz WAV (channel 1 the
customer, channel 2 the agent, as a customer-leg recording), stored in an archive store, with the
archive row, an analysis row (metrics from the script, peaks from the audio) and pause spans.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import soundfile as sf
from sqlalchemy.orm import Session

from flexrec.analysis.frames import frame_stats
from flexrec.archive.media import pcm16
from flexrec.archive.models import ArchivedRecording, RecordingAnalysis
from flexrec.archive.storage import BlobStore
from flexrec.archive.waveform import encode_waveform
from flexrec.db.models import HoldEvent, ReservationRecord

SAMPLE_RATE_HZ = 8000
CHANNEL_LABELS = ("customer", "others")
_PITCH_HZ = {"customer": 210.0, "agent": 125.0}


@dataclass(frozen=True)
class Turn:
    """One stretch of speech by `speaker` ("agent" or "customer"), in ms from the start."""

    speaker: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class SampleCall:
    """A scripted call and the metadata its archive row gets."""

    recording_sid: str
    call_sid: str
    task_sid: str
    worker_sid: str
    agent: str
    queue: str
    direction: str
    customer_number: str
    started_at: datetime
    duration_ms: int
    turns: Sequence[Turn]
    pauses_ms: Sequence[tuple[int, int]] = field(default_factory=tuple)
    # Who was on the call when (a transfer hands it on): (name, worker SID, start ms, end ms).
    agents_ms: Sequence[tuple[str, str, int, int | None]] = field(default_factory=tuple)
    holds_ms: Sequence[tuple[int, int]] = field(default_factory=tuple)  # the customer on hold
    # Card data read out while recording, silenced in the kept audio (sample_transcripts.py).
    silenced_ms: Sequence[tuple[int, int]] = field(default_factory=tuple)


def _hex(seed: int) -> str:
    return f"{seed:032x}"


def _voice(speaker: str, n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / SAMPLE_RATE_HZ
    pitch = _PITCH_HZ[speaker] * (1 + 0.04 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE_HZ
    harmonics = sum(np.sin(k * phase) / k for k in (1, 2, 3, 4))
    # Syllable-rate envelope so the waveform looks (and the VAD hears) like speech.
    syllables = 0.55 + 0.45 * np.abs(np.sin(2 * np.pi * 2.3 * t + rng.uniform(0, np.pi)))
    return 0.35 * harmonics * syllables + 0.01 * rng.standard_normal(n)


def render_wav(call: SampleCall, seed: int = 7) -> bytes:
    """The call's dual-channel 16-bit WAV: customer on channel 1, agent on channel 2."""
    rng = np.random.default_rng(seed)
    frames = call.duration_ms * SAMPLE_RATE_HZ // 1000
    audio = 0.002 * rng.standard_normal((frames, 2))  # line noise floor
    column = {"customer": 0, "agent": 1}
    for turn in call.turns:
        a = turn.start_ms * SAMPLE_RATE_HZ // 1000
        b = min(frames, turn.end_ms * SAMPLE_RATE_HZ // 1000)
        if b > a:
            ramp = np.minimum(1.0, np.minimum(np.arange(b - a), np.arange(b - a)[::-1]) / 80)
            audio[a:b, column[turn.speaker]] += _voice(turn.speaker, b - a, rng) * ramp
    for start_ms, end_ms in (*call.pauses_ms, *call.silenced_ms):
        # Twilio's "silence" pause behaviour, and the card-data stage's silencing: digital
        # silence on both channels.
        audio[start_ms * SAMPLE_RATE_HZ // 1000 : end_ms * SAMPLE_RATE_HZ // 1000] = 0.0
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1, 1), SAMPLE_RATE_HZ, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def _overlap(a: Sequence[Turn], b: Sequence[Turn]) -> int:
    return sum(max(0, min(x.end_ms, y.end_ms) - max(x.start_ms, y.start_ms)) for x in a for y in b)


def script_metrics(call: SampleCall) -> dict[str, int | float | None]:
    """Conversation metrics computed exactly from the script (for sample data only)."""
    agent = [t for t in call.turns if t.speaker == "agent"]
    customer = [t for t in call.turns if t.speaker == "customer"]
    agent_ms = sum(t.end_ms - t.start_ms for t in agent)
    customer_ms = sum(t.end_ms - t.start_ms for t in customer)
    cross_ms = _overlap(agent, customer)
    silence_ms = max(0, call.duration_ms - agent_ms - customer_ms + cross_ms)

    def interrupts(by: Sequence[Turn], other: Sequence[Turn]) -> int:
        return sum(1 for t in by if any(o.start_ms < t.start_ms < o.end_ms for o in other))

    return {
        "duration_ms": call.duration_ms,
        "agent_talk_ms": agent_ms,
        "customer_talk_ms": customer_ms,
        "silence_ms": silence_ms,
        "cross_talk_ms": cross_ms,
        "interruptions_by_agent": interrupts(agent, customer),
        "interruptions_by_customer": interrupts(customer, agent),
        "longest_agent_monologue_ms": max((t.end_ms - t.start_ms for t in agent), default=0),
        "longest_customer_monologue_ms": max((t.end_ms - t.start_ms for t in customer), default=0),
        "talk_to_listen_ratio": round(agent_ms / customer_ms, 3) if customer_ms else None,
        "time_to_first_agent_words_ms": min((t.start_ms for t in agent), default=None),
    }


def store_sample_call(session: Session, store: BlobStore, call: SampleCall) -> ArchivedRecording:
    """Put the call's WAV in `store` and add its archive and analysis rows (flushed)."""
    wav = render_wav(call, seed=int(call.recording_sid[-6:], 16))
    key = f"recordings/{call.started_at:%Y/%m/%d}/{call.recording_sid}.wav"
    store.put(key, wav)
    now = datetime.now(UTC)
    row = ArchivedRecording(
        recording_sid=call.recording_sid,
        call_sid=call.call_sid,
        task_sids=[call.task_sid],
        storage_key=key,
        size_bytes=len(wav),
        duration_ms=call.duration_ms,
        twilio_duration_s=call.duration_ms // 1000,
        channels=2,
        sample_rate_hz=SAMPLE_RATE_HZ,
        channel_labels=list(CHANNEL_LABELS),
        state="verified",
        recording_started_at=call.started_at,
        archived_at=now,
        queue_name=call.queue,
        direction=call.direction,
        worker_sid=call.worker_sid,
        agent_identity=call.agent,
        customer_number=call.customer_number,
        paused_ms=[list(p) for p in call.pauses_ms] or None,
        created_at=now,
        updated_at=now,
    )
    samples, rate = pcm16(wav)
    metrics = script_metrics(call)
    # The archive's analysis reads every stretch of digital silence as a pause (the console
    # takes the silenced card data out again): so do the samples.
    silent = sorted((*call.pauses_ms, *call.silenced_ms))
    analysis = RecordingAnalysis(
        recording_sid=call.recording_sid,
        metrics={**metrics, **({"paused_spans": [list(p) for p in silent]} if silent else {})},
        segments=[
            {"channel": t.speaker, "start_ms": t.start_ms, "end_ms": t.end_ms} for t in call.turns
        ],
        waveform=encode_waveform(frame_stats(samples, rate)),
        vad_config_version="script",
        state="done",
        analysed_at=now,
        created_at=now,
        updated_at=now,
        **metrics,
    )
    session.add_all([row, analysis])
    _add_call_facts(session, call)
    session.flush()
    return row


def _add_call_facts(session: Session, call: SampleCall) -> None:
    """The reservations and hold callbacks the recording service would have kept."""
    base = int(call.started_at.timestamp() * 1000)
    agents = call.agents_ms or ((call.agent, call.worker_sid, 0, call.duration_ms),)
    for index, (name, worker_sid, start_ms, end_ms) in enumerate(agents):
        session.add(
            ReservationRecord(
                sid=f"WR{int(call.task_sid[2:], 16) * 8 + index:032x}",
                task_sid=call.task_sid,
                worker_sid=worker_sid,
                worker_name=name,
                status="completed",
                accepted_ms=base + start_ms,
                ended_ms=base + end_ms if end_ms is not None else None,
                last_event_ms=base + call.duration_ms,
                updated_at=call.started_at,
            )
        )
    for start_ms, end_ms in call.holds_ms:
        for hold, at_ms in ((True, start_ms), (False, end_ms)):
            session.add(
                HoldEvent(
                    conference_sid=f"CF{call.task_sid[2:]}",
                    call_sid=call.call_sid,
                    hold=hold,
                    at_ms=base + at_ms,
                )
            )


def _conversation(seed: int, duration_ms: int, *quiet: tuple[int, int] | None) -> list[Turn]:
    """Turns alternating between the sides, none inside the `quiet` spans (pauses, holds,
    silenced card data)."""
    rng = np.random.default_rng(seed)
    turns: list[Turn] = []
    at, speaker = 600, "agent"
    spans = [q for q in quiet if q is not None]
    while at < duration_ms - 1500:
        length = int(rng.integers(1500, 5200))
        end = min(duration_ms - 400, at + length)
        hit = next((q for q in spans if not (end <= q[0] or at >= q[1])), None)
        if hit:
            at, speaker = hit[1] + 500, "agent"
            continue
        turns.append(Turn(speaker, at, end))
        # Now and then the other party starts before this one finishes (cross-talk).
        gap = int(rng.integers(-700, 900))
        at = max(at + 300, end + gap)
        speaker = "customer" if speaker == "agent" else "agent"
    return turns


def sample_calls(worker_sids: Sequence[str], start: datetime | None = None) -> list[SampleCall]:
    """A handful of varied calls spread over the given workers (the first gets a pause)."""
    start = start or datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    queues = ("Support", "Billing", "Sales")
    agents = ("alice", "bob", "carol", "dave")
    calls: list[SampleCall] = []
    for i in range(6):
        worker = worker_sids[i % len(worker_sids)]
        duration_ms = 24_000 + 7_000 * i
        pause = (9_000, 13_000) if i == 0 else None
        # bob's call 5: the customer reads a card number and its code while recording.
        silenced = (20_000, 27_000) if i == 5 else None
        calls.append(
            SampleCall(
                recording_sid=f"RE{_hex(0xC0FFEE00 + i)}",
                call_sid=f"CA{_hex(0xCA11 + i)}",
                task_sid=f"WT{_hex(0x7A5C + i)}",
                worker_sid=worker,
                agent=agents[worker_sids.index(worker) % len(agents)],
                queue=queues[i % len(queues)],
                direction="outbound" if i % 3 == 2 else "inbound",
                customer_number=f"+1555010{i:04d}",
                started_at=start + timedelta(days=i // 2, hours=i),
                duration_ms=duration_ms,
                turns=_conversation(100 + i, duration_ms, pause, silenced),
                pauses_ms=(pause,) if pause else (),
                silenced_ms=(silenced,) if silenced else (),
            )
        )
    calls.append(_transferred_call(worker_sids[0], start))
    return calls


def _transferred_call(first_worker: str, start: datetime) -> SampleCall:
    """alice takes the call, puts the customer on hold and transfers it cold to carol, to whom
    the customer reads a card number while recording."""
    duration_ms = 80_000
    hold = (30_000, 42_000)  # alice leaves at 31 s; carol answers at 41 s
    silenced = (55_000, 63_000)
    carol = "WK" + "c0" * 16
    return SampleCall(
        recording_sid=f"RE{_hex(0xC0FFEE00 + 6)}",
        call_sid=f"CA{_hex(0xCA11 + 6)}",
        task_sid=f"WT{_hex(0x7A5C + 6)}",
        worker_sid=first_worker,
        agent="alice",
        queue="Support",
        direction="inbound",
        customer_number="+15550100006",
        started_at=start + timedelta(days=3, hours=2),
        duration_ms=duration_ms,
        turns=_conversation(106, duration_ms, hold, silenced),
        agents_ms=(("alice", first_worker, 0, 31_000), ("carol", carol, 41_000, None)),
        holds_ms=(hold,),
        silenced_ms=(silenced,),
    )

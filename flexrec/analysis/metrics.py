"""Conversation metrics from who-spoke-when, and the analysis of a dual-channel recording.

Definitions (all in ms, on the recording's own time line, paused spans left out of every
figure): talk = union of a side's segments; cross-talk = both talking; silence = neither
talking. An interruption by B is a B segment that starts while A is talking, overlaps A by
more than `grace_ms` and is itself longer than `backchannel_max_ms` (so "mm-hmm" is not one).
A monologue is one continuous segment of a side.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from flexrec.analysis.frames import frame_power
from flexrec.analysis.segments import Segment, as_segments
from flexrec.analysis.vad import VadConfig, detect_speech_from_power

CUSTOMER = "customer"
AGENT = "agent"
INTERRUPTION_GRACE_MS = 500
BACKCHANNEL_MAX_MS = 1000


@dataclass(frozen=True)
class SpeakerSegment:
    """A span of speech by one side."""

    speaker: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class ConversationMetrics:
    """Talk, silence, overlap and turn-taking figures of one conversation."""

    duration_ms: int
    paused_ms: int
    customer_talk_ms: int
    agent_talk_ms: int
    total_talk_ms: int  # either side talking
    cross_talk_ms: int
    silence_ms: int
    customer_interruptions: int  # the customer cutting in on the agent
    agent_interruptions: int  # the agent cutting in on the customer
    longest_customer_monologue_ms: int
    longest_agent_monologue_ms: int
    talk_to_listen_ratio: (
        float | None
    )  # the agent's: agent talk / customer talk; None if no customer
    agent_first_words_ms: int | None
    customer_first_words_ms: int | None
    segments: tuple[SpeakerSegment, ...]


@dataclass(frozen=True)
class ConversationAnalysis:
    """The VAD output of both channels and the metrics computed from it."""

    customer_segments: list[Segment]
    agent_segments: list[Segment]
    metrics: ConversationMetrics
    segments: tuple[SpeakerSegment, ...]  # both sides, by start (same as metrics.segments)
    vad_config_version: str  # changes whenever the detector or its thresholds change


def _total(segments: Sequence[Segment]) -> int:
    return sum(s.end_ms - s.start_ms for s in segments)


def _intersect(a: Sequence[Segment], b: Sequence[Segment]) -> list[Segment]:
    out: list[Segment] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start = max(a[i].start_ms, b[j].start_ms)
        end = min(a[i].end_ms, b[j].end_ms)
        if end > start:
            out.append(Segment(start, end))
        if a[i].end_ms < b[j].end_ms:
            i += 1
        else:
            j += 1
    return out


def _subtract(a: Sequence[Segment], b: Sequence[Segment]) -> list[Segment]:
    out: list[Segment] = []
    for seg in a:
        pieces = [seg]
        for cut in b:
            if cut.end_ms <= seg.start_ms or cut.start_ms >= seg.end_ms:
                continue
            nxt: list[Segment] = []
            for p in pieces:
                if p.start_ms < cut.start_ms:
                    nxt.append(Segment(p.start_ms, min(p.end_ms, cut.start_ms)))
                if cut.end_ms < p.end_ms:
                    nxt.append(Segment(max(p.start_ms, cut.end_ms), p.end_ms))
            pieces = nxt
        out.extend(p for p in pieces if p.end_ms > p.start_ms)
    return out


def _interruptions(
    by: Sequence[Segment], of: Sequence[Segment], grace_ms: int, backchannel_ms: int
) -> int:
    """B segments longer than a backchannel that start inside an A segment and overlap it by
    more than the grace; `of` sorted and disjoint, so only the last A to start before a B can
    hold its start."""
    longer = [b for b in by if b.end_ms - b.start_ms > backchannel_ms]
    if not longer or not of:
        return 0
    a_start = np.array([a.start_ms for a in of], np.int64)
    a_end = np.array([a.end_ms for a in of], np.int64)
    b_start = np.array([b.start_ms for b in longer], np.int64)
    b_end = np.array([b.end_ms for b in longer], np.int64)
    inside = np.searchsorted(a_start, b_start, side="left") - 1
    end = a_end[np.maximum(inside, 0)]
    hits = (inside >= 0) & (b_start < end) & (np.minimum(end, b_end) - b_start > grace_ms)
    return int(hits.sum())


def compute_metrics(
    customer: Iterable[tuple[int, int]],
    agent: Iterable[tuple[int, int]],
    duration_ms: int,
    paused: Iterable[tuple[int, int]] = (),
    *,
    grace_ms: int = INTERRUPTION_GRACE_MS,
    backchannel_max_ms: int = BACKCHANNEL_MAX_MS,
) -> ConversationMetrics:
    """Metrics of a conversation given each side's speech segments (ms) and paused spans."""
    window = [Segment(0, max(0, duration_ms))]
    pauses = _intersect(as_segments(paused), window)
    cust = _subtract(_intersect(as_segments(customer), window), pauses)
    agt = _subtract(_intersect(as_segments(agent), window), pauses)
    paused_ms = _total(pauses)
    either = as_segments([*cust, *agt])
    customer_talk = _total(cust)
    agent_talk = _total(agt)
    segments = sorted(
        [SpeakerSegment(CUSTOMER, s.start_ms, s.end_ms) for s in cust]
        + [SpeakerSegment(AGENT, s.start_ms, s.end_ms) for s in agt],
        key=lambda s: (s.start_ms, s.end_ms, s.speaker),
    )
    return ConversationMetrics(
        duration_ms=max(0, duration_ms),
        paused_ms=paused_ms,
        customer_talk_ms=customer_talk,
        agent_talk_ms=agent_talk,
        total_talk_ms=_total(either),
        cross_talk_ms=_total(_intersect(cust, agt)),
        silence_ms=max(0, duration_ms) - paused_ms - _total(either),
        customer_interruptions=_interruptions(cust, agt, grace_ms, backchannel_max_ms),
        agent_interruptions=_interruptions(agt, cust, grace_ms, backchannel_max_ms),
        longest_customer_monologue_ms=max((s.duration_ms for s in cust), default=0),
        longest_agent_monologue_ms=max((s.duration_ms for s in agt), default=0),
        talk_to_listen_ratio=agent_talk / customer_talk if customer_talk else None,
        agent_first_words_ms=agt[0].start_ms if agt else None,
        customer_first_words_ms=cust[0].start_ms if cust else None,
        segments=tuple(segments),
    )


def analyse_recording(
    audio: npt.NDArray[np.generic],
    sample_rate_hz: int,
    channels: tuple[str, str] = (CUSTOMER, AGENT),
    paused: Iterable[tuple[int, int]] = (),
    vad_config: VadConfig | None = None,
) -> ConversationAnalysis:
    """Detect speech on both channels of a (n, 2) recording and compute the metrics.

    `channels` names who is on channel 1 and 2: ("customer", "agent") for a customer-leg
    recording, ("agent", "customer") for a worker-leg one.
    """
    if audio.ndim != 2 or audio.shape[1] != 2:
        raise ValueError(f"expected audio of shape (n, 2), got {audio.shape}")
    config = vad_config or VadConfig()
    power = frame_power(audio, sample_rate_hz, config.frame_ms)
    duration_ms = len(audio) * 1000 // sample_rate_hz
    return analyse_frame_power(power, duration_ms, channels, paused, config)


def analyse_frame_power(
    power: npt.NDArray[np.float32],
    duration_ms: int,
    channels: tuple[str, str] = (CUSTOMER, AGENT),
    paused: Iterable[tuple[int, int]] = (),
    vad_config: VadConfig | None = None,
) -> ConversationAnalysis:
    """`analyse_recording` from the frame powers of both channels, (2, frames), as
    `flexrec.analysis.frames` computes them in the same pass as the waveform."""
    if power.ndim != 2 or power.shape[0] != 2:
        raise ValueError(f"expected frame powers of shape (2, frames), got {power.shape}")
    if sorted(channels) != sorted((CUSTOMER, AGENT)):
        raise ValueError(f"channels must name 'customer' and 'agent' once each, got {channels}")
    config = vad_config or VadConfig()
    found = {name: detect_speech_from_power(power[i], config) for i, name in enumerate(channels)}
    metrics = compute_metrics(found[CUSTOMER], found[AGENT], duration_ms, paused)
    return ConversationAnalysis(
        found[CUSTOMER], found[AGENT], metrics, metrics.segments, config.version
    )

"""Conversation metrics from who-spoke-when, and the analysis of a dual-channel recording.

Definitions (all in ms, on the recording's own time line, paused spans left out of every
figure): talk = union of a side's segments; cross-talk = both talking; silence = neither
talking. An interruption by B is a B segment that starts while A is talking, overlaps A by
more than `grace_ms` and is itself longer than `backchannel_max_ms` (so "mm-hmm" is not one).
A monologue is one continuous segment of a side.
"""

from __future__ import annotations

from bisect import bisect_left
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
    return sum(end - start for start, end in segments)


def _clip(segments: Sequence[Segment], duration_ms: int) -> list[Segment]:
    """Sorted, disjoint segments cut to [0, duration_ms)."""
    out: list[Segment] = []
    for start, end in segments:
        a, b = max(start, 0), min(end, duration_ms)
        if b > a:
            out.append(Segment(a, b))
    return out


def _overlap_ms(a: Sequence[Segment], b: Sequence[Segment]) -> int:
    """How long both of two sorted, disjoint lists of segments cover."""
    total = i = j = 0
    while i < len(a) and j < len(b):
        (a_start, a_end), (b_start, b_end) = a[i], b[j]
        if min(a_end, b_end) > max(a_start, b_start):
            total += min(a_end, b_end) - max(a_start, b_start)
        if a_end < b_end:
            i += 1
        else:
            j += 1
    return total


def _subtract(a: Sequence[Segment], b: Sequence[Segment]) -> list[Segment]:
    """The parts of `a` outside `b`, both sorted and disjoint, in one walk over the two."""
    out: list[Segment] = []
    j = 0
    for start, end in a:
        while j < len(b) and b[j].end_ms <= start:
            j += 1
        k, at = j, start
        while k < len(b) and b[k].start_ms < end:
            if b[k].start_ms > at:
                out.append(Segment(at, b[k].start_ms))
            at = b[k].end_ms  # cuts are disjoint and sorted: each ends after the last
            k += 1
        if at < end:
            out.append(Segment(at, end))
    return out


def _interruptions(
    by: Sequence[Segment], of: Sequence[Segment], grace_ms: int, backchannel_ms: int
) -> int:
    """B segments longer than a backchannel that start inside an A segment and overlap it by
    more than the grace; `of` sorted and disjoint, so only the last A to start before a B can
    hold its start."""
    if not of:
        return 0
    starts = [a.start_ms for a in of]
    hits = 0
    for b_start, b_end in by:
        if b_end - b_start <= backchannel_ms:
            continue
        inside = bisect_left(starts, b_start) - 1
        if inside >= 0:
            end = of[inside].end_ms
            hits += b_start < end and min(end, b_end) - b_start > grace_ms
    return hits


def compute_metrics(
    customer: Iterable[tuple[int, int]],
    agent: Iterable[tuple[int, int]],
    duration_ms: int,
    paused: Iterable[tuple[int, int]] = (),
    *,
    grace_ms: int = INTERRUPTION_GRACE_MS,
    backchannel_max_ms: int = BACKCHANNEL_MAX_MS,
) -> ConversationMetrics:
    """Metrics of a conversation given each side's speech segments (ms) and paused spans.

    Each side's segments are sorted and disjoint once `as_segments` has read them, so every
    figure is one walk along them (talk by both sides is the sum of each side's talk less
    their overlap); a five-minute call has a hundred segments a side.
    """
    duration = max(0, duration_ms)
    pauses = _clip(as_segments(paused), duration)
    cust = _clip(as_segments(customer), duration)
    agt = _clip(as_segments(agent), duration)
    if pauses:
        cust, agt = _subtract(cust, pauses), _subtract(agt, pauses)
    paused_ms = _total(pauses)
    customer_talk = _total(cust)
    agent_talk = _total(agt)
    cross_talk = _overlap_ms(cust, agt)
    total_talk = customer_talk + agent_talk - cross_talk
    spans = sorted(
        [(start, end, CUSTOMER) for start, end in cust]
        + [(start, end, AGENT) for start, end in agt]
    )
    return ConversationMetrics(
        duration_ms=duration,
        paused_ms=paused_ms,
        customer_talk_ms=customer_talk,
        agent_talk_ms=agent_talk,
        total_talk_ms=total_talk,
        cross_talk_ms=cross_talk,
        silence_ms=duration - paused_ms - total_talk,
        customer_interruptions=_interruptions(cust, agt, grace_ms, backchannel_max_ms),
        agent_interruptions=_interruptions(agt, cust, grace_ms, backchannel_max_ms),
        longest_customer_monologue_ms=max((end - start for start, end in cust), default=0),
        longest_agent_monologue_ms=max((end - start for start, end in agt), default=0),
        talk_to_listen_ratio=agent_talk / customer_talk if customer_talk else None,
        agent_first_words_ms=agt[0].start_ms if agt else None,
        customer_first_words_ms=cust[0].start_ms if cust else None,
        segments=tuple(SpeakerSegment(who, start, end) for start, end, who in spans),
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

"""What a recording's leg carried: speech per channel, music, pauses, from the timeline
(`plan_leg`), and where on the recording speech is heard (`truth_segments`)."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from flexsim.audio.spans import Span, intersect_spans, merge_spans, stable_int, subtract_spans
from flexsim.speech.render import utterance_words
from flexsim.speech.script import voice_keys
from flexsim.timeline import CUSTOMER, THIRD_PARTY, Timeline
from flexsim.words import Word
from flexsim.world import Call, Recording, World

_INF = math.inf


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
    return merge_spans(
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
        silenced=intersect_spans(merge_spans(pauses_silence), window),
        skipped=intersect_spans(merge_spans(pauses_skip), window),
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
    holds = merge_spans(timeline.holds)
    is_customer_leg = own == CUSTOMER

    for utt in timeline.utterances:
        spoken = intersect_spans([(utt.start, utt.end)], window)
        if not spoken:
            continue
        if utt.speaker == own:
            heard = intersect_spans(spoken, leg_up)
            target = plan.channel1
        else:
            heard = intersect_spans(spoken, in_conversation)
            speaker_present = _presence_spans(timeline, speaker=utt.speaker)
            if speaker_present:
                heard = intersect_spans(heard, speaker_present)
            # The customer on hold hears music only; the agents hear nothing of the customer.
            if is_customer_leg or utt.speaker == CUSTOMER:
                heard = subtract_spans(heard, holds)
            target = plan.channel2
        target.extend(
            SpeechPiece(utt.speaker, utt.start, utt.end, s, e, utt.words) for s, e in heard
        )

    if is_customer_leg:
        plan.hold_music = intersect_spans(intersect_spans(holds, window), leg_up)
        plan.queue_music = subtract_spans(
            intersect_spans(intersect_spans(merge_spans(timeline.queue_audio), window), leg_up),
            plan.hold_music,
        )
    return plan


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
        spans = merge_spans(span for p in pieces for span in _spoken_spans(plan, p))
        spans = subtract_spans(spans, plan.silenced + skipped)
        segments: list[tuple[int, int]] = []
        for start, end in spans:
            a, b = media_ms(start), media_ms(end)
            if segments and a <= segments[-1][1]:
                segments[-1] = (segments[-1][0], max(segments[-1][1], b))
            elif b > a:
                segments.append((a, b))
        out[name] = segments
    return out

"""The archive's card-data stage: transcribe each channel, find card data, silence it.

One call, `CardDataStage.process(recording_sid, wav)`, before anything is stored: card data by
its digits (`pci.detect`), as the answer to a card-data question (`pci.dialogue`), as the
other side's read-back of a card number found (`pci.readback`) and as the
misheard half of an expiry and code pair (`pci.pairs`) and as digits the recording's own pause
cut off (`pci.cuts`), all read on the call's own clock (`pci.call_clock`: a `skip` pause
opened up by the time it left out); it returns
the audio to keep (the downloaded WAV itself when nothing was found), the redacted transcript,
the detections and a report (the downloaded audio's SHA-256, the spans silenced, the engine).
The unredacted audio exists only in this process's memory while the stage runs.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from flexrec.pci.call_clock import UNKNOWN_SKIP_MS, CallClock
from flexrec.pci.cuts import cut_detections, paused_spans
from flexrec.pci.detect import (
    CARD_NUMBER,
    Detection,
    DetectorConfig,
    detect_card_data,
    near_found_cards,
    silence_spans,
)
from flexrec.pci.dialogue import (
    ANSWER_RULE,
    answer_detections,
    find_questions,
    recording_starts,
)
from flexrec.pci.pairs import missing_half_detections
from flexrec.pci.readback import readback_detections
from flexrec.pci.redact import decode_wav, encode_wav, redact_transcript, silence_samples
from flexrec.pci.word_times import fit_to_speech
from flexrec.transcription.base import Transcriber, Word
from flexrec.transcription.feed import Region, speech_regions

DEFAULT_MARGIN_MS = 250
# A pause on the file: a `silence` span, or a `skip` point with the paused time it left out
# and, where flexrec's requests bound it, how much earlier than the point it may be.
Pause = tuple[int, int] | tuple[int, int, int] | tuple[int, int, int, int]
WIDEN_MAX_MS = 2000
RUNS_INTO_MS = 100


@dataclass(frozen=True)
class StageResult:
    """What the stage decided about one recording."""

    kept_wav: bytes
    source_sha256: str
    spans_ms: tuple[tuple[int, int], ...]
    detections: tuple[Detection, ...]
    transcript: dict[int, list[Word]]  # redacted; channel 1 = first WAV channel
    engine: str
    mode: str
    margin_ms: int
    audio_s: float
    cpu_s: dict[str, float] = field(default_factory=dict)

    def report_detail(self) -> dict[str, Any]:
        """What the manifest keeps besides the hash and the spans: no digit, no word."""
        return {
            "engine": self.engine,
            "mode": self.mode,
            "margin_ms": self.margin_ms,
            "detections": [d.public() for d in self.detections],
        }


def widen_to_speech(detection: Detection, regions: list[Region]) -> Detection:
    """The detection stretched to the speech around it, at most `WIDEN_MAX_MS` each way.

    A recogniser places the first and last digit it understood, not the first and last said:
    the utterance holding them is what must be silenced.
    """
    start, end = detection.start_ms, detection.end_ms
    for region in regions:
        if region.start_ms < end and region.end_ms > start:
            start = min(start, max(region.start_ms, detection.start_ms - WIDEN_MAX_MS))
            end = max(end, min(region.end_ms, detection.end_ms + WIDEN_MAX_MS))
    return replace(detection, start_ms=start, end_ms=end)


def with_word_before(detection: Detection, words: Sequence[Word]) -> Detection:
    """The detection started at the word heard right before it, when that word runs into its
    first digit (no more than `RUNS_INTO_MS` between): a recogniser hears a digit's soft
    onset as a word of its own ("six" as "is"), and the detector finds that onset late too."""
    before = [w for w in words if 0 <= detection.start_ms - w.end_ms <= RUNS_INTO_MS]
    if not before:
        return detection
    return replace(detection, start_ms=min(w.start_ms for w in before))


def known_pauses(
    in_file: Sequence[tuple[int, int]], from_events: Sequence[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The pauses the cut rule reads: the file's digital silence where it shows them, sample
    exact (silence from the very start only where the events say the recording was paused
    then: otherwise it is a call that began quiet), and the events' `skip` points, which leave
    nothing in the file to find. An event span the file shows no silence for is on another
    clock (a simulator's accelerated time) and is not used."""

    def meets(span: tuple[int, int], other: tuple[int, int]) -> bool:
        return other[0] <= span[1] and other[1] >= span[0]

    kept = [s for s in in_file if s[0] > 0 or any(meets(s, e) for e in from_events)]
    points = [e for e in from_events if e[0] == e[1] and not any(meets(e, s) for s in in_file)]
    return sorted({*kept, *points})


def _speech(
    channel: npt.NDArray[np.int16], rate: int, clock: CallClock, duration_ms: int
) -> list[Region]:
    """One channel's speech regions on the file's timeline, each piece between skip points
    read alone."""
    return [
        Region(r.start_ms + start, r.end_ms + start)
        for start, end in clock.file_pieces(duration_ms)
        for r in speech_regions(channel[start * rate // 1000 : end * rate // 1000], rate)
    ]


@dataclass(frozen=True)
class StageInputs:
    """What the stage's rules read from one file: no audio, so a decision can be kept and
    replayed where the unredacted audio may not be (`CardDataStage.decide`). `words` are as
    the engine gave them (card digits included: never stored by the service)."""

    duration_ms: int
    silent_spans: tuple[tuple[int, int], ...]  # the file's digital silence (`paused_spans`)
    regions: dict[int, tuple[Region, ...]]  # each channel's speech, file timeline
    pauses: tuple[Pause, ...]  # as the stage was given them
    words: dict[int, list[Word]]


def _clock(
    silent: Sequence[tuple[int, int]], pauses_ms: Sequence[Pause]
) -> tuple[CallClock, list[tuple[int, int]]]:
    """The call's clock (skip points opened up) and the pauses the rules read, file timeline."""
    paused = known_pauses(silent, [(p[0], p[1]) for p in pauses_ms])
    skipped = {p[0]: p[2] for p in pauses_ms if len(p) >= 3 and p[0] == p[1]}
    late = {p[0]: p[3] for p in pauses_ms if len(p) == 4 and p[0] == p[1]}
    clock = CallClock.of([(s, skipped.get(s, UNKNOWN_SKIP_MS)) for s, e in paused if s == e], late)
    return clock, paused


class CardDataStage:
    """Transcribe, detect, redact (see the module docstring)."""

    def __init__(
        self,
        transcriber: Transcriber | None,
        config: DetectorConfig | None = None,
        *,
        mode: str = "silence",
        margin_ms: int = DEFAULT_MARGIN_MS,
    ) -> None:
        self.transcriber = transcriber
        self.config = config or DetectorConfig()
        self.mode = mode
        self.margin_ms = margin_ms

    def process(
        self,
        wav: bytes,
        transcript: dict[int, list[Word]] | None = None,
        pauses_ms: Sequence[Pause] = (),
    ) -> StageResult:
        """Run the stage over one downloaded WAV (`transcript`: one an engine made already;
        `pauses_ms`: where flexrec's own pause events place the recording's pauses, spans with
        `silence` and points with `skip`, a point's third item the paused time it left out and
        its fourth, when known, how much earlier than the point it may be (else
        `pci.call_clock.POINT_LATE_MS`), `flexrec.archive.pauses.downloaded_pause_spans`)."""
        return self.trace(wav, transcript, pauses_ms)[0]

    def trace(
        self,
        wav: bytes,
        transcript: dict[int, list[Word]] | None = None,
        pauses_ms: Sequence[Pause] = (),
    ) -> tuple[StageResult, StageInputs]:
        """`process`, and everything its decision read besides the audio itself
        (`StageInputs`: the words as the engine gave them, the file's silences and speech
        regions), so the rules can be replayed without the unredacted audio (`decide`)."""
        source_sha256 = hashlib.sha256(wav).hexdigest()
        samples, rate = decode_wav(wav)
        started = time.process_time()
        if transcript is None:
            if self.transcriber is None:
                raise ValueError("no transcriber and no transcript")
            transcript = {
                channel + 1: self.transcriber.transcribe(samples[:, channel].copy(), rate)
                for channel in range(samples.shape[1])
            }
        transcribed = time.process_time()
        silent = paused_spans(samples, rate)
        clock, _ = _clock(silent, pauses_ms)
        duration_ms = len(samples) * 1000 // rate
        inputs = StageInputs(
            duration_ms=duration_ms,
            silent_spans=tuple(silent),
            regions={
                channel + 1: tuple(_speech(samples[:, channel], rate, clock, duration_ms))
                for channel in range(samples.shape[1])
            },
            pauses=tuple(pauses_ms),
            words=transcript,
        )
        detections, spans = self.decide(inputs)
        kept = wav
        if spans:
            kept = encode_wav(silence_samples(samples, rate, spans, self.mode), rate)
        finished = time.process_time()
        result = StageResult(
            kept_wav=kept,
            source_sha256=source_sha256,
            spans_ms=tuple(spans),
            detections=tuple(detections),
            transcript=redact_transcript(transcript, detections, spans),
            engine=self.transcriber.name if self.transcriber is not None else "supplied",
            mode=self.mode,
            margin_ms=self.margin_ms,
            audio_s=len(samples) / rate,
            cpu_s={
                "transcribe": round(transcribed - started, 3),
                "detect_redact": round(finished - transcribed, 3),
            },
        )
        return result, inputs

    def decide(self, inputs: StageInputs) -> tuple[list[Detection], list[tuple[int, int]]]:
        """The rules over what the stage read from one file: the detections (file timeline)
        and the spans to silence."""
        clock, paused = _clock(inputs.silent_spans, inputs.pauses)
        regions = {channel: clock.regions(list(found)) for channel, found in inputs.regions.items()}
        # The rules read gaps between words: each word where its channel has speech.
        words = {
            channel: fit_to_speech(clock.words(said), regions.get(channel, ()))
            for channel, said in inputs.words.items()
        }
        found = self._detect(
            words, regions, clock.pauses([p for p in paused if p[1] > p[0]]), clock.joins()
        )
        detections = [
            clock.detection_to_file(
                widen_to_speech(with_word_before(d, words.get(d.channel, ())), regions[d.channel])
            )
            for d in found
        ]
        return detections, silence_spans(detections, self.margin_ms, inputs.duration_ms)

    def _detect(
        self,
        words: dict[int, list[Word]],
        regions: dict[int, list[Region]],
        paused: list[tuple[int, int]],
        joins: dict[int, int],
    ) -> list[Detection]:
        """Every rule's card data, on the call's clock."""
        questions = [
            (q.start_ms, q.end_ms)
            for channel, said in words.items()
            for q in find_questions(said, channel, recording_starts(paused))
        ]
        found = answer_detections(
            words, regions, detect_card_data(words, self.config, paused, questions), paused, joins
        )
        answered = [d for d in found if d.kind == CARD_NUMBER and d.rule == ANSWER_RULE]
        found += near_found_cards(words, answered, found, self.config, paused)
        found += readback_detections(words, regions, found, self.config, paused)
        found += missing_half_detections(regions, found)
        readers = {d.channel for d in found if d.kind == CARD_NUMBER} or None
        found += cut_detections(words, regions, paused, self.config, joins, readers)
        return found

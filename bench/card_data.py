"""Card-data stage figures on the simulator's speech, scored against its word truth.

Prints, per run of N simulated calls with a card payment (pause never: everything recorded):
word error rate of the engine per channel, card digits still audible in the kept audio (checked
on the samples at the truth's spans, not on the transcript), card-number readings silenced,
distractor numbers silenced, non-card speech silenced per call, and CPU speed against real time
per core for the whole stage (transcribe + detect + redact) of a two-channel recording.

`--card-share 0.3` gives a card payment to that share of the calls (every third or so, the
simulator's default mix, `flexsim`'s `card_share`) and none to the rest, whose talk may still
hold phone numbers, dates and amounts: the card figures then count the card calls, the speed
every call, and the speed is also printed per kind of call.

`--voices espeak` speaks the same scripts with espeak-ng voices the detector was never built on
(`flexsim.espeak_voices`); `--voices asterisk` has every number word said by a human voice
(recorded prompts from a Debian package, `bench/human_digits.py`); `--noise-dbfs -38` adds
line noise well above the simulator's usual -55 dBFS. `--pause cut` has the agent's pause land
in the middle of the customer's reading (after 4-14 of its digit words, by seed) and resume
after the code; `--pause resume` pauses in time and resumes after the code's first digit word
(the first is the demo's miss under load);
`--pause start` has the recording start paused and resume there. `--pause-behavior skip` leaves
the paused audio out of the file (Twilio's `skip`) instead of writing silence. The stage is
given the pause as flexrec's own pause events place it (a span with `silence`, a point with
`skip`), through the archive's own reading of them (`flexrec.archive.pauses`), as the
archive's redactor does; `--no-pause-events` gives it only the file. The events are modelled
on flexrec's clock: each request (the recording's create, the pause, the resume) takes
`--round-trip-ms` (default 300, Twilio's usual 100-300 ms), Twilio applying it halfway, and
flexrec keeps its send and answer; the recording began `--events-late-ms` after the whole
second its StartTime gives. With the requests' bounds (the default) the stage gets each skip
point at the latest moment they allow (a round trip late) and how much earlier it may be (two
round trips); `--no-event-bounds` gives it the events as a pause another integration made, or
one whose process was killed, would be read: from StartTime and the rows' `created_at`,
written after the answer, `--events-late-ms` plus half a round trip late, with the stage's
fixed second (`--round-trip-ms 0 --no-event-bounds` is the fifth session's `--events-late-ms`).
`--transcripts DIR` keeps each channel's transcript in DIR and reads it back on a later run:
the engine starts every channel afresh (`pocketsphinx_engine.start_channel`), so a channel's
words depend on its own audio and the engine's options alone, which is the key; any later run
that renders the same channel (another `--events-late-ms`, other rules, another set holding the
same call) reads exactly the words a fresh run would hear. Delete DIR when the engine's code or
model changes. The stage's speed is then not measured (printed -1).
`--engine '{"full_search": {"fwdflatsfwin": 10}}'` measures the default engine with other
pocketsphinx options for either pass (`quick_search` replaces the engine's quick options); with
faster-whisper it gives the engine's options (`FasterWhisperTranscriber`: `decode` for
faster-whisper's own decoding options over the engine's, `batch_size`, `compute_type`,
`threads`).
`--transcription-engine faster-whisper --transcription-model DIR` measures another engine, built
as the service builds it from an operator's `FLEXREC_TRANSCRIPTION_ENGINE` and
`FLEXREC_TRANSCRIPTION_MODEL` (`flexrec.transcription.factory`); the model is the operator's.
Non-card speech silenced counts the truth's words (either channel) that are not card data and
lost audio to a silenced span, so the quiet between card digits is not counted.

    .venv/bin/python bench/card_data.py [--calls 8] [--voices clips|espeak|asterisk]
        [--noise-dbfs -55] [--first-seed 2000] [--pause never|cut|resume|start]
        [--pause-behavior silence|skip]
        [--no-pause-events] [--card-share 1.0] [--engine JSON] [--no-wer] [--misses] [--json]
        [--transcripts DIR] [--events-late-ms 0] [--round-trip-ms 300] [--no-event-bounds]
        [--transcription-engine pocketsphinx|faster-whisper|whisper-cpp] [--transcription-model P]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import time
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from human_digits import asterisk_digits

from flexrec.archive.pauses import file_pause, pause_gaps, start_bounds
from flexrec.config import CardDataSettings
from flexrec.db.models import PauseEvent
from flexrec.demo.card_data import NumberTally, non_card_silenced_ms, pause_cutting, tally_numbers
from flexrec.pci.redact import decode_wav, wav_duration_ms
from flexrec.pci.stage import CardDataStage, Pause
from flexrec.transcription.base import Transcriber, Word
from flexrec.transcription.factory import build_transcriber
from flexrec.transcription.pocketsphinx_engine import PocketSphinxTranscriber
from flexrec.transcription.whisper_engines import FasterWhisperTranscriber
from flexsim import (
    encode_audio,
    espeak_voices,
    make_sample_conversation,
    render_recording,
    word_truth,
)

RATE = 8000


def word_edits(ref: list[str], hyp: list[str]) -> int:
    """Word-level edit distance (substitutions, insertions, deletions): WER's numerator."""
    row = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        prev, row[0] = row[:], i
        for j in range(1, len(hyp) + 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ref[i - 1] != hyp[j - 1]))
    return row[len(hyp)]


def modelled_events(
    pause_ms: tuple[int, int],
    behavior: str,
    duration_ms: int,
    late_ms: int = 0,
    round_trip_ms: int = 300,
    bounded: bool = True,
) -> list[Pause]:
    """Where flexrec's events place a pause applied `pause_ms` into the recording (ms from its
    start, the pause and its resume), read as the archive reads its rows (see the module
    docstring for the model)."""
    began = datetime(2026, 12, 7, 9, 0, 1, tzinfo=UTC)
    start_time = began - timedelta(milliseconds=late_ms)  # StartTime: `late_ms` before
    half = timedelta(milliseconds=round_trip_ms / 2)

    def at(ms: int) -> datetime:
        return began + timedelta(milliseconds=ms)

    def event(action: str, result: str, applied_ms: int) -> PauseEvent:
        return PauseEvent(
            task_sid="WT" + "0" * 32,
            actor="bench",
            action=action,
            result=result,
            # written once the answer is in, as `pause_result.finish` writes it
            created_at=at(applied_ms) + half,
            sent_at=at(applied_ms) - half if bounded else None,
            answered_at=at(applied_ms) + half if bounded else None,
        )

    def epoch_ms(moment: datetime) -> int:
        return int(moment.timestamp() * 1000)

    started = (
        start_bounds(start_time, epoch_ms(began - half), epoch_ms(began + half))
        if bounded
        else None
    )
    events = [event("pause", "paused", pause_ms[0]), event("resume", "recording", pause_ms[1])]
    return [file_pause(g) for g in pause_gaps(events, start_time, duration_ms, behavior, started)]


class TranscriptCache:
    """Transcripts kept in a folder, one file a channel, keyed by the engine options and the
    channel's own audio (see the module docstring); a miss is transcribed as the stage would."""

    def __init__(self, folder: Path, engine: Transcriber, options: dict[str, Any]) -> None:
        self.folder = folder
        self.engine = engine
        self.options = json.dumps({"engine": engine.name, **options}, sort_keys=True).encode()
        self.hits = 0
        folder.mkdir(parents=True, exist_ok=True)

    def transcript(self, wav: bytes) -> dict[int, list[Word]]:
        """The recording's words per channel (1 = the WAV's first), from the folder or heard."""
        samples, rate = decode_wav(wav)
        out: dict[int, list[Word]] = {}
        for channel in range(samples.shape[1]):
            audio = samples[:, channel].copy()
            key = hashlib.sha256(self.options)
            key.update(str(rate).encode())
            key.update(audio.tobytes())
            path = self.folder / f"{key.hexdigest()}.json"
            if path.exists():
                self.hits += 1
                stored = json.loads(path.read_text())
                out[channel + 1] = [Word(*w) for w in stored]
                continue
            heard = self.engine.transcribe(audio, rate)
            kept = [[w.text, w.start_ms, w.end_ms, w.confidence] for w in heard]
            path.write_text(json.dumps(kept))
            out[channel + 1] = heard
        return out


def run(
    calls: int,
    noise_dbfs: float = -55.0,
    wer: bool = True,
    first_seed: int = 1000,
    misses: bool = False,
    pause: str = "never",
    card_share: float = 1.0,
    pause_behavior: str = "silence",
    pause_events: bool = True,
    events_late_ms: int = 0,
    round_trip_ms: int = 300,
    event_bounds: bool = True,
    engine_options: dict[str, Any] | None = None,
    transcripts: Path | None = None,
    settings: CardDataSettings | None = None,
) -> dict[str, float]:
    """Score the stage over `calls` simulated card-payment calls (`misses`: name each miss);
    `settings` name another engine than pocketsphinx and its model."""
    engine: Transcriber
    if settings is None or settings.transcription_engine == "pocketsphinx":
        engine = PocketSphinxTranscriber(**(engine_options or {}))
    elif settings.transcription_engine == "faster-whisper" and engine_options:
        assert settings.transcription_model is not None
        engine = FasterWhisperTranscriber(settings.transcription_model, **engine_options)
    else:
        engine = build_transcriber(settings)
    stage = CardDataStage(engine)
    model: dict[str, str] = {}
    if settings is not None and settings.transcription_engine != "pocketsphinx":
        model = {"model": str(settings.transcription_model)}
    cache = (
        None
        if transcripts is None
        else TranscriptCache(
            transcripts,
            engine,
            # another engine's words depend on the operator's model too
            {**(engine_options or {}), **model},
        )
    )
    edits = words = 0
    audio_s = cpu_s = 0.0
    total = NumberTally()
    non_card_ms = non_card_speech_ms = 0
    by_kind = {"card": [0.0, 0.0], "plain": [0.0, 0.0]}  # audio s, CPU s
    for index, seed in enumerate(range(first_seed, first_seed + calls)):
        # Spread evenly: call k has a payment when the running share passes a whole call.
        paying = int((index + 1) * card_share + 1e-9) > int(index * card_share + 1e-9)
        sample = make_sample_conversation(
            seed,
            duration_s=110.0,
            card_pause="never" if paying else None,
            noise_dbfs=noise_dbfs,
        )
        events: list[Pause] = []
        if pause != "never" and paying:
            plain = word_truth(sample.world, sample.customer_recording.sid)
            assert plain is not None
            cut = {"cut_after": 4 + seed % 11} if pause == "cut" else {"resume_after": 1}
            start_s, end_s, _ = pause_cutting(plain, **cut)
            if pause == "start":
                start_s = 0.0
            sample = make_sample_conversation(
                seed,
                duration_s=110.0,
                card_pause="never",
                noise_dbfs=noise_dbfs,
                pause=(start_s, end_s, pause_behavior),
            )
        recording = sample.customer_recording
        wav = encode_audio(render_recording(sample.world, recording), "wav")
        if pause != "never" and paying:
            # The recording starts at the customer's answer, the pause's clock.
            events = modelled_events(
                (int(start_s * 1000), int(end_s * 1000)),
                pause_behavior,
                wav_duration_ms(wav),
                events_late_ms,
                round_trip_ms,
                event_bounds,
            )
        started = time.process_time()
        transcript = None if cache is None else cache.transcript(wav)
        result = stage.process(wav, transcript, pauses_ms=events if pause_events else ())
        spent = time.process_time() - started
        cpu_s += spent
        audio_s += result.audio_s
        kind = by_kind["card" if paying else "plain"]
        kind[0] += result.audio_s
        kind[1] += spent
        truth = word_truth(sample.world, recording.sid)
        assert truth is not None
        kept, _ = soundfile.read(io.BytesIO(result.kept_wav), dtype="int16", always_2d=True)
        original, _ = soundfile.read(io.BytesIO(wav), dtype="int16", always_2d=True)
        non_card_speech_ms += non_card_silenced_ms(truth, result.spans_ms)
        if wer:
            for index, name in ((0, "channel1"), (1, "channel2")):
                said = [w["word"] for w in truth["channels"][name] if w["audible"]]
                heard = engine.transcribe(np.ascontiguousarray(original[:, index]), RATE)
                edits += word_edits(said, [w.text for w in heard])
                words += len(said)
        tally = tally_numbers(kept, truth)
        total.add(tally)
        for miss in tally.misses if misses else ():
            print(f"miss: seed {seed} {miss}", flush=True)
        card_spans = tally.card_spans
        silenced = sum(e - s for s, e in result.spans_ms)
        covered = sum(
            max(0, min(e, ce) - max(s, cs)) for s, e in result.spans_ms for cs, ce in card_spans
        )
        non_card_ms += max(0, silenced - covered)
    return {
        "calls": calls,
        "wer": round(edits / max(words, 1), 3) if wer else -1,
        "card_numbers_spoken": total.readings,
        "card_numbers_silenced": total.readings_silenced,
        "card_digits_audible": total.card_digits_audible,
        "card_digit_words": total.card_digit_words,
        "distractors_silenced_share": round(
            total.distractors_silenced / max(total.distractors, 1), 3
        ),
        "non_card_speech_silenced_s_per_call": round(non_card_speech_ms / 1000 / calls, 2),
        "silenced_beyond_card_words_s_per_call": round(non_card_ms / 1000 / calls, 2),
        "stage_x_real_time_per_core": round(audio_s / cpu_s, 1) if cache is None else -1,
        **{
            f"stage_x_real_time_per_core_{name}_calls": round(a / c, 1)
            for name, (a, c) in by_kind.items()
            if c > 0 and cache is None
        },
    }


def main() -> None:
    """Run and print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--voices", choices=("clips", "espeak", "asterisk"), default="clips")
    parser.add_argument("--noise-dbfs", type=float, default=-55.0)
    parser.add_argument("--no-wer", action="store_true", help="skip the word error rate pass")
    parser.add_argument(
        "--first-seed", type=int, default=1000, help="2000: calls the rules were not tuned on"
    )
    parser.add_argument("--pause", choices=("never", "cut", "resume", "start"), default="never")
    parser.add_argument("--pause-behavior", choices=("silence", "skip"), default="silence")
    parser.add_argument(
        "--no-pause-events", action="store_true", help="give the stage only the file, as before"
    )
    parser.add_argument(
        "--events-late-ms",
        type=int,
        default=0,
        help="the recording began this long after its StartTime's whole second",
    )
    parser.add_argument(
        "--round-trip-ms",
        type=int,
        default=300,
        help="each Twilio request's round trip (create, pause, resume), applied halfway",
    )
    parser.add_argument(
        "--no-event-bounds",
        action="store_true",
        help="events without their requests' bounds: placed from StartTime and created_at",
    )
    parser.add_argument(
        "--card-share", type=float, default=1.0, help="share of calls with a card payment"
    )
    parser.add_argument(
        "--engine",
        type=json.loads,
        default={},
        help='engine options as JSON: pocketsphinx {"quick_search": {...}, "full_search": {...}};'
        ' faster-whisper {"batch_size": 8, "decode": {"beam_size": 1}}',
    )
    parser.add_argument(
        "--transcripts", type=Path, help="keep and reuse transcripts in this folder"
    )
    parser.add_argument(
        "--transcription-engine",
        choices=("pocketsphinx", "faster-whisper", "whisper-cpp"),
        default="pocketsphinx",
        help="as FLEXREC_TRANSCRIPTION_ENGINE",
    )
    parser.add_argument("--transcription-model", type=Path, help="as FLEXREC_TRANSCRIPTION_MODEL")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--misses", action="store_true", help="name each card reading missed")
    args = parser.parse_args()
    if args.voices == "espeak":
        voices = espeak_voices()
    elif args.voices == "asterisk":
        voices = asterisk_digits()
    else:
        voices = nullcontext()
    with voices:
        figures = run(
            args.calls,
            args.noise_dbfs,
            wer=not args.no_wer,
            first_seed=args.first_seed,
            misses=args.misses,
            pause=args.pause,
            card_share=args.card_share,
            pause_behavior=args.pause_behavior,
            pause_events=not args.no_pause_events,
            events_late_ms=args.events_late_ms,
            round_trip_ms=args.round_trip_ms,
            event_bounds=not args.no_event_bounds,
            engine_options=args.engine,
            transcripts=args.transcripts,
            settings=CardDataSettings(
                transcription_engine=args.transcription_engine,
                transcription_model=args.transcription_model,
            ),
        )
    figures = {
        "voices": args.voices,
        "noise_dbfs": args.noise_dbfs,
        "pause": args.pause,
        "pause_behavior": args.pause_behavior,
        "pause_events": not args.no_pause_events,
        "events_late_ms": args.events_late_ms,
        "round_trip_ms": args.round_trip_ms,
        "event_bounds": not args.no_event_bounds,
        "card_share": args.card_share,
        "engine": args.engine,
        "transcription_engine": args.transcription_engine,
        **figures,
    }
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    else:
        for name, value in figures.items():
            print(f"{name:34} {value}")


if __name__ == "__main__":
    main()

"""Card-data stage figures on the simulator's speech, scored against its word truth.

Prints, per run of N simulated calls with a card payment (pause never: everything recorded):
word error rate of the engine per channel, card digits still audible in the kept audio (checked
on the samples at the truth's spans, not on the transcript), card-number readings silenced,
distractor numbers silenced, non-card speech silenced per call, and CPU speed against real time
per core for the whole stage (transcribe + detect + redact) of a two-channel recording.

    .venv/bin/python bench/card_data.py [--calls 8] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import time

import numpy as np
import soundfile

from flexrec.pci.stage import CardDataStage
from flexrec.transcription.pocketsphinx_engine import PocketSphinxTranscriber
from flexsim import encode_audio, make_sample_conversation, render_recording, word_truth

RATE = 8000


def _edits(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        prev, row[0] = row[:], i
        for j in range(1, len(hyp) + 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ref[i - 1] != hyp[j - 1]))
    return row[len(hyp)]


def _heard(kept: np.ndarray, channel: int, start_ms: int, end_ms: int) -> bool:
    return bool(np.any(kept[start_ms * RATE // 1000 : end_ms * RATE // 1000, channel]))


def run(calls: int) -> dict[str, float]:
    """Score the stage over `calls` simulated card-payment calls."""
    engine = PocketSphinxTranscriber()
    stage = CardDataStage(engine)
    edits = words = 0
    audio_s = cpu_s = 0.0
    digits_audible = digits_total = readings = readings_silenced = 0
    distractors = distractors_silenced = 0
    non_card_ms = 0
    for seed in range(1000, 1000 + calls):
        sample = make_sample_conversation(seed, duration_s=110.0, card_pause="never")
        recording = sample.customer_recording
        wav = encode_audio(render_recording(sample.world, recording), "wav")
        started = time.process_time()
        result = stage.process(wav)
        cpu_s += time.process_time() - started
        audio_s += result.audio_s
        truth = word_truth(sample.world, recording.sid)
        assert truth is not None
        kept, _ = soundfile.read(io.BytesIO(result.kept_wav), dtype="int16", always_2d=True)
        original, _ = soundfile.read(io.BytesIO(wav), dtype="int16", always_2d=True)
        for index, name in ((0, "channel1"), (1, "channel2")):
            reference = [w["word"] for w in truth["channels"][name] if w["audible"]]
            heard = engine.transcribe(np.ascontiguousarray(original[:, index]), RATE)
            edits += _edits(reference, [w.text for w in heard])
            words += len(reference)
        card_spans: list[tuple[int, int]] = []
        for number in truth["numbers"]:
            channel = 0 if number["channel"] == "channel1" else 1
            spans = [(d["start_ms"], d["end_ms"]) for d in number["digits"] if d["audible"]]
            if not spans:
                continue
            audible = [s for s in spans if _heard(kept, channel, *s)]
            if number["card_data"]:
                card_spans += spans
                digits_total += len(spans)
                digits_audible += len(audible)
                if number["kind"] == "card":
                    readings += 1
                    readings_silenced += not audible
            else:
                distractors += 1
                distractors_silenced += len(audible) < len(spans)
        silenced = sum(e - s for s, e in result.spans_ms)
        covered = sum(
            max(0, min(e, ce) - max(s, cs)) for s, e in result.spans_ms for cs, ce in card_spans
        )
        non_card_ms += max(0, silenced - covered)
    return {
        "calls": calls,
        "wer_pocketsphinx": round(edits / max(words, 1), 3),
        "card_numbers_spoken": readings,
        "card_numbers_silenced": readings_silenced,
        "card_digits_audible": digits_audible,
        "card_digit_words": digits_total,
        "distractors_silenced_share": round(distractors_silenced / max(distractors, 1), 3),
        "non_card_silenced_s_per_call": round(non_card_ms / 1000 / calls, 2),
        "stage_x_real_time_per_core": round(audio_s / cpu_s, 1),
    }


def main() -> None:
    """Run and print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run(args.calls)
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    else:
        for name, value in figures.items():
            print(f"{name:34} {value}")


if __name__ == "__main__":
    main()

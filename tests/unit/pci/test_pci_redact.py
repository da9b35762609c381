"""Redaction: the spans are silent (or a tone) on both channels and every other sample is the
one downloaded; the transcript keeps a marker and loses every word in the spans."""

from __future__ import annotations

import io

import numpy as np
import soundfile

from flexrec.pci.detect import Detection
from flexrec.pci.redact import decode_wav, redact_transcript, redact_wav
from flexrec.pci.stage import CardDataStage
from flexrec.transcription.base import Word

RATE = 8000


def _wav(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _noise(seconds: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-20000, 20000, size=(int(seconds * RATE), 2), dtype=np.int16)


def test_every_sample_outside_the_spans_is_bit_identical() -> None:
    original = _noise(10.0)
    spans = [(1000, 2500), (7000, 7400)]
    kept, rate = decode_wav(redact_wav(_wav(original), spans))
    assert rate == RATE and kept.shape == original.shape
    inside = np.zeros(len(original), bool)
    for start, end in spans:
        inside[start * RATE // 1000 : end * RATE // 1000] = True
    assert np.array_equal(kept[~inside], original[~inside])
    assert not np.any(kept[inside])


def test_tone_mode_writes_a_tone_on_both_channels() -> None:
    kept, _ = decode_wav(redact_wav(_wav(_noise(3.0)), [(1000, 2000)], mode="tone"))
    part = kept[RATE : 2 * RATE]
    assert np.array_equal(part[:, 0], part[:, 1])
    assert 2000 < np.abs(part).max() < 4000  # -20 dBFS


def test_nothing_found_keeps_the_downloaded_bytes() -> None:
    wav = _wav(_noise(2.0))
    assert redact_wav(wav, []) == wav


def test_transcript_shows_a_marker_and_no_word_inside_a_span() -> None:
    words = {
        1: [
            Word("my", 0, 200),
            Word("card", 200, 500),
            Word("four", 600, 900),
            Word("five", 950, 1200),
        ],
        2: [Word("okay", 700, 1000), Word("thanks", 3000, 3300)],
    }
    detection = Detection("card_number", 1, 600, 1200, "luhn", 16)
    out = redact_transcript(words, [detection], [(350, 1450)])
    assert [w.text for w in out[1]] == ["my", "[card number]"]
    assert [w.text for w in out[2]] == ["thanks"]


class _Scripted:
    """A transcriber that hears a card number on channel 1 at 1-8 s."""

    name = "scripted"

    def transcribe(self, samples: np.ndarray, sample_rate_hz: int) -> list[Word]:
        if samples[0] != 1:  # channel 2 carries a marker sample of 2
            return [Word("hello", 500, 800)]
        digits = "four five three nine five seven eight seven six three six two one four eight six"
        return [Word(w, 1000 + i * 400, 1300 + i * 400) for i, w in enumerate(digits.split())]


def test_the_stage_silences_what_it_found_with_the_margin_and_reports_the_source_hash() -> None:
    original = _noise(12.0)
    original[0] = (1, 2)
    wav = _wav(original)
    result = CardDataStage(_Scripted(), margin_ms=250).process(wav)
    assert [d.kind for d in result.detections] == ["card_number"]
    (span,) = result.spans_ms
    assert span[0] <= 1000 - 250 and span[1] >= 7300 + 250
    kept, _ = decode_wav(result.kept_wav)
    a, b = span[0] * RATE // 1000, -(-span[1] * RATE // 1000)
    assert not np.any(kept[a:b])
    assert np.array_equal(kept[:a], original[:a]) and np.array_equal(kept[b:], original[b:])
    import hashlib

    assert result.source_sha256 == hashlib.sha256(wav).hexdigest()
    assert "[card number]" in [w.text for w in result.transcript[1]]
    assert not any(w.text in ("four", "five") for w in result.transcript[1])
    assert "digits" not in str(result.report_detail())

"""How telephone audio reaches pocketsphinx: upsampled to 16 kHz, speech regions only, and the
default engine hearing a card number the simulator reads on a phone line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from spoken import said

from flexrec.config import CardDataSettings
from flexrec.transcription import pocketsphinx_engine as engine
from flexrec.transcription.base import EngineUnavailable
from flexrec.transcription.factory import build_transcriber
from flexrec.transcription.feed import Region, upsample_2x
from flexrec.transcription.pocketsphinx_engine import PocketSphinxTranscriber
from flexrec.transcription.twilio_engine import TwilioTranscriber
from flexrec.transcription.whisper_engines import FasterWhisperTranscriber
from flexsim import make_sample_conversation, render_recording, word_truth


def _band_energy(x: np.ndarray, rate: int, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


def test_upsampling_keeps_the_telephone_band_and_adds_nothing_above_it() -> None:
    t = np.arange(8000) / 8000
    tone = (8000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    up = upsample_2x(tone)
    assert len(up) == 16000
    inside = _band_energy(up[1000:-1000], 16000, 900, 1100)
    images = _band_energy(up[1000:-1000], 16000, 4000, 8000)
    assert images < inside * 1e-3  # the 7 kHz image of the tone is filtered out
    assert abs(np.abs(up[1000:-1000]).max() - 8000) < 400


def _card_reading() -> np.ndarray:
    """The simulator's customer reading a card number on a phone line, 8 kHz."""
    sample = make_sample_conversation(31, duration_s=60.0, card_pause="never")
    audio = render_recording(sample.world, sample.customer_recording)
    truth = word_truth(sample.world, sample.customer_recording.sid)
    assert truth is not None
    card = next(n for n in truth["numbers"] if n["kind"] == "card" and n["channel"] == "channel1")
    start = card["digits"][0]["start_ms"] - 500
    end = card["digits"][-1]["end_ms"] + 500
    return np.ascontiguousarray(audio[start * 8 : end * 8, 0])


def test_pocketsphinx_hears_a_card_number_read_on_a_phone_line() -> None:
    clip = _card_reading()
    length_ms = len(clip) // 8
    words = PocketSphinxTranscriber().transcribe(clip, 8000)
    heard = [w.text for w in words]
    digit_words = {"zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight"}
    assert sum(w in digit_words | {"nine", "double"} for w in heard) >= 12, heard
    assert all(0 <= w.start_ms < w.end_ms <= length_ms + 200 for w in words)


def test_the_full_search_reads_again_only_what_may_hold_card_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert not engine._may_hold_card_data(said("i want to pay for this one oh", 0))
    assert engine._may_hold_card_data(said("four five", 0))
    assert engine._may_hold_card_data(said("the expiry please", 0))
    clip = _card_reading()
    two_passes = [w.text for w in PocketSphinxTranscriber().transcribe(clip, 8000)]
    monkeypatch.setattr(engine, "_may_hold_card_data", lambda words: True)
    full = [w.text for w in PocketSphinxTranscriber().transcribe(clip, 8000)]
    assert two_passes == full  # a reading gets the full search's words


def test_a_channel_reads_the_same_whatever_the_engine_read_before() -> None:
    sample = make_sample_conversation(31, duration_s=15.0, card_pause="never")
    audio = render_recording(sample.world, sample.customer_recording)
    customer, agent = (np.ascontiguousarray(audio[:, c]) for c in (0, 1))
    engine = PocketSphinxTranscriber()
    first = [w.text for w in engine.transcribe(customer, 8000)]
    engine.transcribe(agent, 8000)
    again = [w.text for w in engine.transcribe(customer, 8000)]
    fresh = [w.text for w in PocketSphinxTranscriber().transcribe(customer, 8000)]
    assert len(first) >= 10
    assert again == first  # a worker's tenth call reads as its first
    assert fresh == first


def test_a_fresh_front_end_first_reads_the_end_of_the_channels_first_region() -> None:
    samples = np.arange(8000 * 10, dtype=np.int64).astype(np.int16)
    regions = [Region(2000, 4000), Region(6000, 9000)]
    warmup = np.frombuffer(engine.channel_warmup(samples, 8000, regions), np.int16)
    assert len(warmup) == engine.WARM_MS * 16  # its last 500 ms, at 16 kHz
    short = np.frombuffer(engine.channel_warmup(samples, 8000, [Region(2000, 2200)]), np.int16)
    assert len(short) == 200 * 16  # a region shorter than that: all of it


def test_engines_that_cannot_run_here_say_why(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable, match="does not exist"):
        FasterWhisperTranscriber(tmp_path / "missing")
    (tmp_path / "model").mkdir()
    with pytest.raises(EngineUnavailable, match=r"missing model\.bin"):
        FasterWhisperTranscriber(tmp_path / "model")
    with pytest.raises(EngineUnavailable, match="FLEXREC_TRANSCRIPTION_MODEL"):
        build_transcriber(CardDataSettings(transcription_engine="faster-whisper"))
    with pytest.raises(EngineUnavailable, match="not PCI compliant"):
        TwilioTranscriber(object(), "GA" + "0" * 32, outside_pci_scope=False)
    assert build_transcriber(CardDataSettings()).name == "pocketsphinx"

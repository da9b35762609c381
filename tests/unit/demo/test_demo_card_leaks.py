"""A card digit the demo finds audible is kept for a replay the first time it happens: the
stage's inputs (words as the engine gave them, the file's silences and speech regions, the
pauses), the truth, the pause events and detections, and no audio at all."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import soundfile
from spoken import heard_all

from flexrec.archive.models import ArchivedRecording, SealedObject
from flexrec.db.base import make_engine, make_session_factory
from flexrec.demo import card_data, card_leaks
from flexrec.demo.card_data import card_figures, tally_numbers
from flexrec.pci.stage import CardDataStage
from flexrec.transcription.base import Word
from flexsim import SampleConversation, make_sample_conversation, render_media, word_truth

NOW = datetime(2026, 12, 8, 0, 0, tzinfo=UTC)


class HeardAll:
    """An engine that hears every word the truth says was said, channel by channel."""

    name = "heard-all"

    def __init__(self, words: dict[int, list[Word]]) -> None:
        self.words = words
        self.calls = 0

    def transcribe(self, samples: npt.NDArray[np.int16], sample_rate_hz: int) -> list[Word]:
        self.calls += 1
        return self.words[1 + (self.calls - 1) % 2]


@pytest.fixture
def call() -> SampleConversation:
    return make_sample_conversation(2000, duration_s=60.0, card_pause="never")


def _archive_unredacted(url: str, archive: Path, call: SampleConversation) -> bytes:
    """The forced leak: the recording kept as downloaded, no detection stored."""
    recording = call.customer_recording
    wav = render_media(call.world, recording, "wav", 2)
    archive.mkdir(parents=True, exist_ok=True)
    (archive / f"{recording.sid}.wav").write_bytes(wav)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        session.add(
            ArchivedRecording(
                recording_sid=recording.sid,
                call_sid=recording.call_sid,
                storage_key=f"{recording.sid}.wav",
                state="verified",
                created_at=NOW,
                updated_at=NOW,
            )
        )
        source = hashlib.sha256(wav).hexdigest()
        session.add(
            SealedObject(
                recording_sid=recording.sid,
                kind="audio",
                storage_key=f"{recording.sid}.wav",
                stored_sha256=source,
                size_bytes=len(wav),
                plain_sha256=source,
                plain_size_bytes=len(wav),
                source_sha256=source,
                redaction={"spans_ms": []},
                sealed_at=NOW,
            )
        )
        session.commit()
    engine.dispose()
    return wav


def _sim(call: SampleConversation) -> Any:
    return SimpleNamespace(world=call.world, word_truth=lambda sid: word_truth(call.world, sid))


def test_a_forced_leak_keeps_a_bundle_that_replays_the_decision_without_audio(
    tmp_path: Path,
    database: str,
    call: SampleConversation,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wav = _archive_unredacted(database, tmp_path / "archive", call)
    truth = word_truth(call.world, call.customer_recording.sid)
    assert truth is not None
    heard = heard_all(truth)
    monkeypatch.setattr(card_data, "leak_stage", lambda env: CardDataStage(HeardAll(heard)))
    leaks = tmp_path / "card_leaks"

    figures = card_figures(_sim(call), database, tmp_path / "archive", leaks, {})

    assert figures.card_digits_audible > 0
    assert figures.leak_bundles == [str(leaks / f"{call.customer_recording.sid}.json")]
    # No audio kept: one JSON file, and no bytes of the recording in it.
    assert [p.name for p in leaks.iterdir()] == [f"{call.customer_recording.sid}.json"]
    raw = (leaks / f"{call.customer_recording.sid}.json").read_bytes()
    assert b"RIFF" not in raw and wav[44:1044] not in raw
    bundle = json.loads(raw)
    assert bundle["misses"] and bundle["truth"]["numbers"] == truth["numbers"]
    assert bundle["replay"]["same_audio_as_archived"] is True
    assert bundle["flexrec"]["detections"] == []
    # The words as the engine gave them, the file's facts and when the recording ran.
    inputs = bundle["stage_inputs"]
    assert inputs["words"]["1"] == [[w.text, w.start_ms, w.end_ms] for w in heard[1]]
    assert inputs["regions"]["1"] and inputs["duration_ms"] > 0
    assert bundle["simulator"]["recording"]["start_time"] == call.customer_recording.start_time
    assert any(leg["this_recording"] for leg in bundle["simulator"]["legs"])
    # The replayed stage silences the card: stored and replayed decisions differ, and the
    # bundle alone re-runs to the same detections.
    assert bundle["replay"]["detections"] and bundle["replay"]["still_audible"] == []
    assert bundle["replay"]["same_detections_as_stored"] is False
    again = card_leaks.replay(bundle)
    assert again["detections"] == bundle["replay"]["detections"]
    assert again["still_audible"] == []


def test_a_bundle_replays_to_the_stage_decision_on_the_audio(call: SampleConversation) -> None:
    wav = render_media(call.world, call.customer_recording, "wav", 2)
    truth = word_truth(call.world, call.customer_recording.sid)
    assert truth is not None
    stage = CardDataStage(HeardAll(heard_all(truth)))
    result, inputs = stage.trace(wav)
    bundle = {"stage_inputs": json.loads(json.dumps(card_leaks.inputs_json(inputs)))}
    bundle["truth"] = truth
    replayed = card_leaks.replay(bundle)
    assert replayed["detections"] == [d.public() for d in result.detections]
    assert [tuple(s) for s in replayed["spans_ms"]] == list(result.spans_ms)


def test_no_bundle_when_every_card_digit_is_silenced(
    tmp_path: Path, database: str, call: SampleConversation
) -> None:
    # A call without card data: nothing audible, nothing kept.
    plain = make_sample_conversation(2000, duration_s=60.0, card_pause=None)
    _archive_unredacted(database, tmp_path / "archive", plain)
    figures = card_figures(_sim(plain), database, tmp_path / "archive", tmp_path / "leaks", {})
    assert figures.card_digits_audible == 0 and figures.leak_bundles == []
    assert not (tmp_path / "leaks").exists()


def test_a_mono_file_is_scored_on_its_one_channel(call: SampleConversation) -> None:
    # Demo seeds 3 and 4 (card data, session 10) stopped with an IndexError: a Studio flow's
    # mono recording was archived, and the truth's agent words are on "channel2".
    truth = word_truth(call.world, call.customer_recording.sid)
    assert truth is not None
    channels = {n["channel"] for n in truth["numbers"] if n["card_data"]}
    assert "channel2" in channels  # the agent's read-back
    dual = render_media(call.world, call.customer_recording, "wav", 2)
    samples, _ = soundfile.read(io.BytesIO(dual), dtype="int16", always_2d=True)
    mono = (samples[:, :1].astype(np.int32) + samples[:, 1:]).clip(-32768, 32767).astype(np.int16)
    both = tally_numbers(samples, truth)
    tally = tally_numbers(mono, truth)
    assert tally.card_digit_words == both.card_digit_words > 0
    assert tally.card_digits_audible == tally.card_digit_words
    assert tally_numbers(np.zeros_like(mono), truth).card_digits_audible == 0

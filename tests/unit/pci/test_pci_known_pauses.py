"""Pauses the file does not show are read from flexrec's own pause events: a `skip` pause leaves
no silence to find, and a recording that starts paused looks like a call that began quiet. A
card reading cut by either is silenced like one cut by a `silence` pause."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import soundfile
from spoken import heard_all

from flexrec.archive.models import ArchivedRecording
from flexrec.archive.pauses import downloaded_pause_spans
from flexrec.config import CardDataSettings, PolicySettings, Settings
from flexrec.db.base import make_engine, make_session_factory
from flexrec.db.migrate import upgrade
from flexrec.db.models import PauseEvent
from flexrec.demo.card_data import NumberTally, pause_cutting, tally_numbers
from flexrec.pci.archive_stage import make_redactor
from flexrec.pci.stage import CardDataStage, known_pauses
from flexsim import (
    SampleConversation,
    encode_audio,
    make_sample_conversation,
    render_recording,
    word_truth,
)

SEED = 2000
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
TASK = "WT" + "7" * 32


def _paused_call(start_s: float, end_s: float, behavior: str) -> SampleConversation:
    return make_sample_conversation(
        SEED, duration_s=60.0, card_pause="never", pause=(start_s, end_s, behavior)
    )


def _plain_truth() -> dict[str, Any]:
    plain = make_sample_conversation(SEED, duration_s=60.0, card_pause="never")
    truth = word_truth(plain.world, plain.customer_recording.sid)
    assert truth is not None
    return truth


def _wav_and_truth(sample: SampleConversation) -> tuple[bytes, dict[str, Any]]:
    recording = sample.customer_recording
    truth = word_truth(sample.world, recording.sid)
    assert truth is not None
    return encode_audio(render_recording(sample.world, recording), "wav"), truth


def _tally(kept_wav: bytes, truth: dict[str, Any]) -> NumberTally:
    kept, _ = soundfile.read(io.BytesIO(kept_wav), dtype="int16", always_2d=True)
    return tally_numbers(kept, truth)


def test_a_recording_that_starts_paused_and_resumes_mid_code_loses_the_rest_of_the_code() -> None:
    _, resume_s, _ = pause_cutting(_plain_truth(), resume_after=1)
    wav, truth = _wav_and_truth(_paused_call(0.0, resume_s, "silence"))
    stage = CardDataStage(None)
    # The file alone: silence from the start is a call that began quiet, not a pause.
    assert _tally(stage.process(wav, heard_all(truth)).kept_wav, truth).card_digits_audible > 0
    # flexrec's own events say it was paused from its start.
    result = stage.process(wav, heard_all(truth), pauses_ms=[(0, int(resume_s * 1000))])
    tally = _tally(result.kept_wav, truth)
    assert tally.card_digit_words > 0 and tally.card_digits_audible == 0
    assert any(d.rule == "cut_by_pause" for d in result.detections)


def test_a_skip_pause_that_cuts_a_reading_is_read_from_the_events_point() -> None:
    start_s, end_s, _ = pause_cutting(_plain_truth(), cut_after=11)
    wav, truth = _wav_and_truth(_paused_call(start_s, end_s, "skip"))
    point = int(start_s * 1000)  # the file jumps here: the paused audio is left out
    result = CardDataStage(None).process(wav, heard_all(truth), pauses_ms=[(point, point)])
    tally = _tally(result.kept_wav, truth)
    assert (tally.card_digit_words, tally.card_digits_audible) == (11, 0)


def test_event_spans_the_file_does_not_show_are_not_used() -> None:
    in_file = [(0, 4000), (20_000, 25_000)]
    # A span at the start counts when the events confirm it; a silence-behaviour span the file
    # shows no silence for is on another clock; a skip point stands on its own.
    assert known_pauses(in_file, [(0, 3900), (40_000, 45_000), (50_000, 50_000)]) == [
        (0, 4000),
        (20_000, 25_000),
        (50_000, 50_000),
    ]
    assert known_pauses(in_file, []) == [(20_000, 25_000)]


def _event(action: str, result: str, at_s: float) -> PauseEvent:
    return PauseEvent(
        task_sid=TASK,
        actor="alice",
        action=action,
        result=result,
        created_at=T0 + timedelta(seconds=at_s),
    )


def test_the_archive_redactor_reads_skip_pauses_from_the_pause_events(tmp_path: Path) -> None:
    """The real path: pocketsphinx in the redactor's child, pauses from the database."""
    url = f"sqlite:///{tmp_path / 'flexrec.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    start_s, end_s, _ = pause_cutting(_plain_truth(), cut_after=11)
    wav, truth = _wav_and_truth(_paused_call(start_s, end_s, "skip"))
    sid = "RE" + "7" * 32
    with sessions() as session:
        row = ArchivedRecording(recording_sid=sid, recording_started_at=T0, task_sids=[TASK])
        row.created_at = row.updated_at = T0
        session.add(row)
        # Written before the recording SID was known: matched by the task.
        session.add_all([_event("pause", "paused", start_s), _event("resume", "recording", end_s)])
        session.commit()
        duration_ms = len(soundfile.read(io.BytesIO(wav))[0]) // 8
        point = int(start_s * 1000)
        paused = int(end_s * 1000) - point  # the talk either side of the point is this far apart
        assert downloaded_pause_spans(session, sid, "skip", duration_ms) == [(point, point, paused)]
    settings = Settings(
        card_data=CardDataSettings(card_data=True),
        policy=PolicySettings(pause_behavior="skip"),
    )
    kept, report = make_redactor(settings, sessions)(sid, wav)
    tally = _tally(kept, truth)
    assert (tally.card_digit_words, tally.card_digits_audible) == (11, 0)
    assert report is not None
    assert "cut_by_pause" in {d["rule"] for d in report.detail["detections"]}
    engine.dispose()

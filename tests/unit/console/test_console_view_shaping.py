"""Pure shaping for the player: pause gaps, channel roles, speech segments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flexrec.archive.models import ArchivedRecording, RecordingAnalysis
from flexrec.archive.pauses import PauseGap, pause_gaps
from flexrec.console.queries import analysis_metrics, channel_roles, speech_segments
from flexrec.db.models import PauseEvent

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _event(action: str, result: str, at_s: float) -> PauseEvent:
    return PauseEvent(
        task_sid="WT" + "1" * 32,
        actor="alice",
        action=action,
        result=result,
        created_at=T0 + timedelta(seconds=at_s),
    )


def test_silence_behaviour_keeps_pauses_as_spans() -> None:
    events = [
        _event("pause", "paused", 10),
        _event("resume", "recording", 14),
        _event("pause", "paused", 30),
        _event("resume", "recording", 31.5),
    ]
    assert pause_gaps(events, T0, 60_000) == [
        PauseGap(10_000, 14_000, 4_000),
        PauseGap(30_000, 31_500, 1_500),
    ]


def test_skip_behaviour_collapses_pauses_and_shifts_later_ones() -> None:
    events = [
        _event("pause", "paused", 10),
        _event("resume", "recording", 14),
        _event("pause", "paused", 30),
        _event("resume", "recording", 31),
    ]
    gaps = pause_gaps(events, T0, 50_000, behavior="skip")
    assert gaps == [PauseGap(10_000, 10_000, 4_000), PauseGap(26_000, 26_000, 1_000)]


def test_failed_and_duplicate_events_are_ignored_and_open_pause_runs_to_end() -> None:
    events = [
        _event("pause", "error", 2),
        _event("pause", "paused", 5),
        _event("pause", "paused", 6),  # a second press while paused changes nothing
        _event("resume", "error", 8),
    ]
    assert pause_gaps(events, T0, 20_000) == [PauseGap(5_000, 20_000, 15_000)]


def test_pauses_on_another_clock_are_dropped_not_misplaced() -> None:
    before = [_event("pause", "paused", -130), _event("resume", "recording", -128)]
    after = [_event("pause", "paused", 90), _event("resume", "recording", 95)]
    assert pause_gaps(before, T0, 60_000) == []
    assert pause_gaps(after, T0, 60_000) == []
    # A pause pressed just before the recording began still covers its start.
    early = [_event("pause", "paused", -1), _event("resume", "recording", 2)]
    assert pause_gaps(early, T0, 60_000) == [PauseGap(0, 2_000, 2_000)]


@pytest.mark.parametrize(
    ("labels", "roles"),
    [
        (["customer", "others"], ["customer", "agent"]),
        (["others", "customer"], ["agent", "customer"]),
        (None, ["customer", "agent"]),
        (["others", "others"], ["customer", "agent"]),
    ],
)
def test_channel_roles_follow_insights_labels(labels: list[str] | None, roles: list[str]) -> None:
    assert channel_roles(ArchivedRecording(channel_labels=labels)) == roles


def test_speech_segments_drop_malformed_entries_and_sort() -> None:
    analysis = RecordingAnalysis(
        segments=[
            {"channel": "customer", "start_ms": 500, "end_ms": 900},
            {"speaker": "agent", "start_ms": 0, "end_ms": 400},  # the analysis' own key
            {"channel": "agent", "start_ms": 700, "end_ms": 700},  # empty
            {"channel": "music", "start_ms": 0, "end_ms": 100},
            {"channel": "agent", "start_ms": "x", "end_ms": 5},
            {"start_ms": 1, "end_ms": 2},
        ]
    )
    assert speech_segments(analysis) == [
        {"channel": "agent", "start_ms": 0, "end_ms": 400},
        {"channel": "customer", "start_ms": 500, "end_ms": 900},
    ]
    assert speech_segments(None) == []


def test_a_mono_recording_is_shown_as_mono_with_what_one_channel_measures() -> None:
    rec = ArchivedRecording(channels=1, channel_labels=["customer", "others"])
    assert channel_roles(rec) == ["mixed"]  # one waveform for both sides, no solo
    analysis = RecordingAnalysis(
        state="mono",
        duration_ms=60_000,
        silence_ms=24_000,
        metrics={"channels": 1, "talk_ms": 36_000, "longest_speech_ms": 9_000},
        segments=[{"speaker": "mixed", "start_ms": 1_000, "end_ms": 4_000}],
    )
    shown = analysis_metrics(analysis)
    assert shown is not None and shown["state"] == "mono"
    assert (shown["talk_ms"], shown["silence_pct"], shown["longest_speech_ms"]) == (
        36_000,
        40.0,
        9_000,
    )
    assert "agent_talk_ms" not in shown  # nothing per side is made up
    assert speech_segments(analysis) == [{"channel": "mixed", "start_ms": 1_000, "end_ms": 4_000}]


def test_a_failed_analysis_says_so_instead_of_empty_figures() -> None:
    shown = analysis_metrics(RecordingAnalysis(state="failed", last_error="ValueError: x"))
    assert shown is not None and shown["state"] == "failed"

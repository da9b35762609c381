"""The demo's wait after the last call ends when nothing is left to wait for, and says why."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from flexrec.archive.models import ArchivedRecording, RecordingAnalysis
from flexrec.db.base import make_engine, make_session_factory
from flexrec.demo.display import DemoDisplay, LiveFigures
from flexrec.demo.measures import STAGE_ANALYSING, STAGE_UNKNOWN, recording_stages
from flexrec.demo.settle import Settled, settle

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def sid(n: int) -> str:
    return f"RE{n:032x}"


@dataclass
class FakeSim:
    """What `settle` reads of the simulator: its ground truth and live figures."""

    completed: list[str]  # dual customer-leg recordings
    mono: list[str] = field(default_factory=list)  # e.g. a Studio flow's

    def truth(self) -> list[dict[str, Any]]:
        def recording(sid: str, channels: int) -> dict[str, Any]:
            return {"sid": sid, "party": "customer", "status": "completed", "channels": channels}

        agent_leg = {"sid": sid(99), "party": "worker", "status": "completed", "channels": 2}
        recordings = [recording(s, 2) for s in self.completed]
        recordings += [recording(s, 1) for s in self.mono]
        return [{"recordings": [*recordings, agent_leg]}]

    def recordings(self) -> list[SimpleNamespace]:
        return []

    def stats(self) -> SimpleNamespace:
        return SimpleNamespace(finished=2, active=0, webhooks_sent=0, webhooks_failed=0)


def _add(url: str, recording_sid: str, archive: str, analysis: str | None) -> None:
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        session.add(
            ArchivedRecording(
                recording_sid=recording_sid, state=archive, created_at=NOW, updated_at=NOW
            )
        )
        if analysis is not None:
            session.add(
                RecordingAnalysis(
                    recording_sid=recording_sid, state=analysis, created_at=NOW, updated_at=NOW
                )
            )
        session.commit()
    engine.dispose()


def _settle_now(url: str, sim: FakeSim, timeout_s: float) -> Settled:
    console = Console(file=io.StringIO(), force_terminal=False)
    figures = LiveFigures(total_calls=2)
    with DemoDisplay(console, 2) as display:
        return settle(url, figures, display, timeout_s, sim, SimpleNamespace(requested=0))  # type: ignore[arg-type]


def test_a_mono_recording_ends_the_wait_at_once_instead_of_at_the_timeout(database: str) -> None:
    # The defect: a mono recording's analysis never became "done", so the demo waited 240 s.
    _add(database, sid(1), "verified", "done")
    _add(database, sid(2), "verified", "mono")
    settled = _settle_now(database, FakeSim([sid(1)], mono=[sid(2)]), timeout_s=30.0)
    assert not settled.timed_out
    assert settled.seconds < 5.0
    assert settled.clean
    assert (settled.count("analysed"), settled.count("mono")) == (1, 1)
    assert "settled in" in settled.summary()


def test_a_failed_analysis_ends_the_wait_but_is_not_clean(database: str) -> None:
    _add(database, sid(1), "verified", "failed")
    _add(database, sid(2), "failed", None)
    settled = _settle_now(database, FakeSim([sid(1), sid(2)]), timeout_s=30.0)
    assert not settled.timed_out and not settled.clean
    summary = settled.summary()
    assert "1 analysis failed" in summary and "1 archive failed" in summary


def test_a_wait_that_runs_out_says_what_it_was_waiting_for(database: str) -> None:
    _add(database, sid(1), "verified", None)  # archived, analysis still queued
    settled = _settle_now(database, FakeSim([sid(1), sid(2)]), timeout_s=0.3)
    assert settled.timed_out and not settled.clean
    summary = settled.summary()
    assert "did not settle" in summary
    assert f"1 {STAGE_ANALYSING}" in summary and f"1 {STAGE_UNKNOWN}" in summary


def test_stages_follow_the_archive_and_analysis_rows(database: str) -> None:
    _add(database, sid(1), "downloading", None)
    _add(database, sid(2), "deleted_from_twilio", "pending")
    _add(database, sid(3), "stored", None)
    stages = recording_stages(database, [sid(n) for n in range(1, 5)])
    assert stages == {
        sid(1): "being archived",
        sid(2): STAGE_ANALYSING,
        sid(3): STAGE_ANALYSING,  # stored: analysis follows
        sid(4): STAGE_UNKNOWN,
    }


def test_a_mono_recording_the_service_never_heard_of_is_reported_not_waited_for(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Studio flow's mono recording whose completed callback was lost while the service was
    # down: nothing will ever announce it, so after a grace period it is named, not awaited.
    monkeypatch.setattr("flexrec.demo.settle.UNREPORTED_GRACE_S", 0.3)
    _add(database, sid(1), "verified", "done")
    settled = _settle_now(database, FakeSim([sid(1)], mono=[sid(2)]), timeout_s=30.0)
    assert not settled.timed_out and settled.clean
    assert settled.unreported == [sid(2)]
    assert sid(2) in settled.summary() and "never reached the service" in settled.summary()


def test_a_dual_recording_the_service_never_heard_of_is_waited_for(database: str) -> None:
    # flexrec made or adopted every dual one: losing its callbacks must not lose it.
    _add(database, sid(1), "verified", "done")
    settled = _settle_now(database, FakeSim([sid(1), sid(2)]), timeout_s=0.5)
    assert settled.timed_out and settled.unreported == []
    assert f"1 {STAGE_UNKNOWN} ({sid(2)})" in settled.summary()

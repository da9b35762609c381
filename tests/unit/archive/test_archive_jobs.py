"""Archive jobs on the inline queue: completion hook, backoff re-enqueue, reconcile, analysis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sim_recordings import SimRecordings

import flexrec.analysis
from flexrec.archive.jobs import (
    JOB_ANALYSE,
    JOB_ARCHIVE,
    JOB_OBJECT_HOLDS,
    JOB_RECONCILE,
    JOB_RETENTION,
    backoff_s,
    register_archive_jobs,
)
from flexrec.archive.service import ArchiveService
from flexrec.jobs.queue import InlineJobQueue

RE = "RE" + "1" * 32
CA = "CA" + "2" * 32


def no_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(flexrec.analysis, "analyse_frame_power", raising=False)


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff_s(n) for n in (1, 2, 3, 4)] == [15, 30, 60, 120]
    assert backoff_s(30) == 600


def test_completed_recording_is_archived_then_analysed(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    analysed: list[str] = []

    def fake_analyse(power: Any, duration_ms: int, **_: Any) -> dict[str, Any]:
        analysed.append("x")
        return {"metrics": {"agent_talk_ms": 5}, "segments": []}

    monkeypatch.setattr(flexrec.analysis, "analyse_frame_power", fake_analyse, raising=False)
    twilio.add(RE, CA)
    queue = InlineJobQueue()
    service = make_service()
    hook = register_archive_jobs(queue, service)
    assert set(queue.names) == {
        JOB_ARCHIVE,
        JOB_ANALYSE,
        JOB_RETENTION,
        JOB_RECONCILE,
        JOB_OBJECT_HOLDS,
    }

    media_url = f"https://api.twilio.com/2010-04-01/Accounts/{twilio.account_sid}/Recordings/{RE}"
    hook(RE, CA, media_url, 2)
    row = service.get(RE)
    assert row is not None and row.media_url == media_url and row.state == "downloading"
    queue.run_all()
    assert [job.name for job in queue.history] == [JOB_ARCHIVE, JOB_ANALYSE]
    row = service.get(RE)
    assert row is not None and row.state == "verified"
    assert analysed == ["x"]


def test_retryable_failure_reenqueues_with_backoff(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    no_analysis(monkeypatch)
    twilio.add(RE, CA)
    twilio.fail_next("media", 503, times=2)
    queue = InlineJobQueue()
    service = make_service()
    register_archive_jobs(queue, service)
    queue.enqueue(JOB_ARCHIVE, RE)
    queue.run_all()
    archive_jobs = [job for job in queue.history if job.name == JOB_ARCHIVE]
    assert [job.delay_s for job in archive_jobs] == [0.0, 15.0, 30.0]
    row = service.get(RE)
    assert row is not None and row.state == "verified" and row.attempts == 3
    # With no analysis module the analyse job is skipped, not crashed.
    assert [job.name for job in queue.history][-1] == JOB_ANALYSE


def test_the_first_retry_delay_is_configurable(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # FLEXREC_ARCHIVE_RETRY_BASE_S: the demo's fast clock retries within seconds.
    no_analysis(monkeypatch)
    twilio.add(RE, CA)
    twilio.fail_next("media", 503, times=2)
    queue = InlineJobQueue()
    register_archive_jobs(queue, make_service(), retry_base_s=1.0)
    queue.enqueue(JOB_ARCHIVE, RE)
    queue.run_all()
    delays = [job.delay_s for job in queue.history if job.name == JOB_ARCHIVE]
    assert delays == [0.0, 1.0, 2.0]


def test_permanent_failure_stops_retrying(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService]
) -> None:
    queue = InlineJobQueue()
    register_archive_jobs(queue, make_service())
    queue.enqueue(JOB_ARCHIVE, RE)  # unknown to Twilio and no media URL: permanent
    assert queue.run_all() == 1


def test_reconcile_picks_up_stale_rows_and_missing_analyses(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    no_analysis(monkeypatch)
    twilio.add(RE, CA)
    queue = InlineJobQueue()
    service = make_service()
    register_archive_jobs(queue, service)
    service.job.note_completed(RE, CA)  # then the worker died before running the job
    assert service.job.unfinished() == []  # not stale yet
    clock.advance(minutes=11)
    assert service.job.unfinished() == [RE]
    queue.enqueue(JOB_RECONCILE)
    queue.run_all()
    row = service.get(RE)
    assert row is not None and row.state == "verified"
    assert service.analyses.unanalysed() == [RE]  # analysis unavailable, so still missing
    queue.history.clear()
    queue.enqueue(JOB_RECONCILE)
    queue.run_all()
    assert [job.name for job in queue.history] == [JOB_RECONCILE, JOB_ANALYSE]

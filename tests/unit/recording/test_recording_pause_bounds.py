"""Each change Twilio made is bounded by flexrec's own requests: the create's send and answer
bound when the recording began, a pause's or resume's when Twilio applied it. A process
killed after sending a request leaves its send written down, so the next answer's event is
bounded from it, not as if that change could not have come before its own send."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from recording_harness import Harness, inbound_attrs
from sim_twilio import fake_sid, timeout_error
from sqlalchemy import select

from flexrec.archive.pauses import pause_gaps, start_bounds
from flexrec.db.models import RecordingRecord
from flexrec.recording import pause as pause_module
from flexrec.recording.policy import RecordingPolicy
from flexrec.recording.service import Actor

TASK = fake_sid("WT", 1)
CUSTOMER = fake_sid("CA", 1)
RES = fake_sid("WR", 1)
AGENT = fake_sid("WK", 1)
OWNER = Actor("alice", AGENT, ("agent",))


def round_trip(h: Harness, operation: str, there_s: float, back_s: float) -> list[datetime]:
    """Make `operation` take `there_s` to reach Twilio and `back_s` to come back (the test's
    clock moves); returns the moments Twilio applied each call."""
    applied: list[datetime] = []
    original: Callable[..., Any] = getattr(h.twilio, operation)

    def slow(*args: Any, **kwargs: Any) -> Any:
        h.clock.advance(there_s)
        applied.append(h.clock())
        result = original(*args, **kwargs)
        h.clock.advance(back_s)
        return result

    setattr(h.twilio, operation, slow)
    return applied


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, RecordingPolicy(pause_behavior="skip"))
    harness.twilio.add_call(CUSTOMER)
    harness.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    yield harness
    harness.close()


def accept(h: Harness) -> None:
    attrs = inbound_attrs(CUSTOMER)
    h.tr("task.created", TASK, attrs, status="pending")
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_the_create_and_each_pause_bound_their_own_moments(h: Harness) -> None:
    began = round_trip(h, "create_recording", 0.12, 0.08)
    applied = round_trip(h, "update_recording", 0.1, 0.15)
    accept(h)
    with h.sessions() as session:
        row = session.scalars(select_recordings()).one()
    assert row.create_sent_ms is not None and row.create_answered_ms is not None
    assert row.create_sent_ms < ms(began[0]) < row.create_answered_ms
    h.clock.advance(10)
    h.service.pauses.pause(TASK, OWNER)
    h.clock.advance(4)
    h.service.pauses.resume(TASK, OWNER)
    pause, resume = h.pause_events()
    for event, moment in ((pause, applied[0]), (resume, applied[1])):
        assert event.sent_at is not None and event.answered_at is not None
        assert event.sent_at < moment < event.answered_at <= event.created_at
    assert ms(pause.answered_at) - ms(pause.sent_at) == 250  # type: ignore[arg-type]
    # The point they place is at most the two round trips late, never early.
    started = start_bounds(ms_to_dt(row.start_time_ms), row.create_sent_ms, row.create_answered_ms)
    (gap,) = pause_gaps(h.pause_events(), ms_to_dt(row.start_time_ms), 60_000, "skip", started)
    truth = ms(applied[0]) - ms(began[0])
    assert gap.late_ms == 200 + 250
    assert gap.start_ms - gap.late_ms <= truth <= gap.start_ms


def test_a_request_whose_answer_a_killed_process_never_wrote_widens_the_next(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    accept(h)
    round_trip(h, "update_recording", 0.1, 0.1)
    h.clock.advance(10)
    first_send = h.clock()

    def killed(*args: object, **kwargs: object) -> None:
        raise SystemExit("killed")

    # Twilio pauses the recording; the process dies before writing what Twilio answered.
    with monkeypatch.context() as patched:
        patched.setattr(pause_module, "finish", killed)
        with pytest.raises(SystemExit):
            h.service.pauses.pause(TASK, OWNER)
    assert h.twilio.recordings_on(CUSTOMER)[0].status == "paused"
    assert h.pause_events() == []
    # The agent presses pause again 30 s later: the change may have come at the first send.
    h.clock.advance(30)
    h.service.pauses.pause(TASK, OWNER)
    (event,) = h.pause_events()
    assert event.sent_at == first_send
    # So wide a bound is the fallback's: the point is placed as before, with its fixed second.
    with h.sessions() as session:
        row = session.scalars(select_recordings()).one()
        assert row.change_sent_ms is None  # taken by the answer that bounded it
    started = start_bounds(ms_to_dt(row.start_time_ms), row.create_sent_ms, row.create_answered_ms)
    (gap,) = pause_gaps([event], ms_to_dt(row.start_time_ms), 60_000, "skip", started)
    assert gap.late_ms is None
    # The next request is bounded by its own round trip again.
    h.clock.advance(5)
    h.service.pauses.resume(TASK, OWNER)
    resume = h.pause_events()[-1]
    assert ms(resume.answered_at) - ms(resume.sent_at) == 200  # type: ignore[arg-type]


def test_the_service_s_own_changes_are_bounded_too(h: Harness) -> None:
    accept(h)
    applied = round_trip(h, "update_recording", 0.05, 0.05)
    h.service.pauses.pause(TASK, OWNER)
    h.clock.advance(3)
    # The work ends with the recording still paused: the service resumes it.
    attrs = inbound_attrs(CUSTOMER)
    h.tr("reservation.wrapup", TASK, attrs, status="wrapping", reservation=RES, worker=AGENT)
    h.queue.run_all()
    resume = h.pause_events()[-1]
    assert (resume.actor, resume.result) == ("system", "recording")
    assert resume.sent_at is not None and resume.answered_at is not None
    assert resume.sent_at < applied[-1] < resume.answered_at


def select_recordings() -> Any:
    return select(RecordingRecord).where(RecordingRecord.call_sid == CUSTOMER)


def ms_to_dt(value: int | None) -> datetime:
    assert value is not None
    return datetime.fromtimestamp(value / 1000, UTC)


def test_a_create_whose_answer_a_killed_process_never_stored_leaves_the_start_unbounded(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Twilio creates the recording; the process dies before storing it. The next start adopts
    # it from the leg's list, and no create of this process bounds when it began: StartTime
    # alone places its pauses, with the stage's fixed second.
    h.twilio.fail_next("create_recording", timeout_error())

    def killed(*args: object, **kwargs: object) -> None:
        raise SystemExit("killed")

    accept(h)  # the first create times out unsent: a retry is due
    h.clock.advance(600)
    with monkeypatch.context() as patched:
        patched.setattr(h.service.starter, "_commit_started", killed)
        with pytest.raises(SystemExit):
            h.service.planner.start(h.target(CUSTOMER).id)
    h.clock.advance(61)
    h.queue.pending.clear()
    assert h.service.reconciler.reconcile() == 1
    h.queue.run_all()
    assert h.target(CUSTOMER).source == "adopted"
    with h.sessions() as session:
        row = session.scalars(select_recordings()).one()
    assert (row.create_sent_ms, row.create_answered_ms) == (None, None)
    h.service.pauses.pause(TASK, OWNER)
    started = start_bounds(ms_to_dt(row.start_time_ms), row.create_sent_ms, row.create_answered_ms)
    assert started is None
    (gap,) = pause_gaps(h.pause_events(), ms_to_dt(row.start_time_ms), 900_000, "skip", started)
    assert gap.start_ms > 0
    assert gap.late_ms is None

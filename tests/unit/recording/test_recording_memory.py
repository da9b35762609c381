"""The service's memory of its own starts and its follow-up threads: bounded, exact, never lossy."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from recording_harness import Harness, inbound_attrs
from sim_twilio import fake_sid
from testkit import assert_one_voice_recording

from flexrec.recording.background import Background
from flexrec.recording.memory import LINGER_S, Expiry, RecentSet
from flexrec.recording.policy import RecordingPolicy
from flexrec.recording.seen_calls import SeenCalls
from flexrec.twilio.gateway import GatewayError
from flexrec.webhooks.events import RecordingStatusEvent

WT = fake_sid("WT", 1)
CA = fake_sid("CA", 1)


def test_memory_is_bounded_oldest_first() -> None:
    recent = RecentSet(max_items=2)
    for item in ("a", "b", "c"):
        recent.add(item)
    assert "a" not in recent and "b" in recent and "c" in recent
    recent.discard("b")
    assert "b" not in recent


def test_background_runs_work_off_the_caller_and_inline_once_closed() -> None:
    background = Background(threads=1)
    ran: list[str] = []
    done = threading.Event()
    background.submit(lambda: (ran.append(threading.current_thread().name), done.set()))
    assert done.wait(5)
    assert ran[0].startswith("flexrec-after")
    chores: list[int] = []
    background.every(60, lambda: chores.append(1))
    background.submit(lambda: 1 / 0)  # logged, never raised into the caller
    background.close()
    assert chores == [1]  # the chore ran once more at close
    background.submit(lambda: ran.append(threading.current_thread().name))
    assert ran[-1] == threading.current_thread().name


def test_work_due_later_runs_in_due_order_and_is_dropped_at_close() -> None:
    background = Background(threads=1)
    ran: list[str] = []
    both = threading.Event()
    background.submit_at(0.2, lambda: (ran.append("late"), both.set()))
    background.submit_at(0.05, lambda: ran.append("soon"))
    background.submit_at(60, lambda: ran.append("never"))  # its intent is a row, not this
    assert both.wait(5)
    assert ran == ["soon", "late"]
    background.close()
    assert ran == ["soon", "late"]


def test_a_start_never_waits_behind_the_other_work() -> None:
    # At 80% of a core's saturation the one pool's threads were all on link writes (two round
    # trips each) while creates queued: starts have a lane of their own.
    from prometheus_client import REGISTRY

    def waits(lane: str) -> float:
        count = "flexrec_background_wait_seconds_count"
        return REGISTRY.get_sample_value(count, {"lane": lane}) or 0.0

    before = {lane: waits(lane) for lane in ("first", "after")}
    background = Background(threads=1, first_threads=1)
    release = threading.Event()
    background.submit(release.wait)  # a link write holding every thread of its lane
    started, later = threading.Event(), threading.Event()
    background.submit(started.set, first=True)
    background.submit_at(0.01, later.set, first=True)
    assert started.wait(5) and later.wait(5)
    assert not release.is_set()
    release.set()
    background.close()
    # Each work's wait for a thread is observed by lane (the operator's capacity signal).
    assert waits("first") - before["first"] == 2
    assert waits("after") - before["after"] == 1


class _Lanes(Background):
    """A Background that records each work's lane instead of running it."""

    def __init__(self) -> None:
        super().__init__(threads=1, first_threads=1)
        self.lanes: list[bool] = []

    def submit(self, work: object, *, first: bool = False) -> None:  # type: ignore[override]
        self.lanes.append(first)

    def submit_at(self, delay_s: float, work: object, *, first: bool = False) -> None:  # type: ignore[override]
        self.lanes.append(first)


def test_starts_searches_and_held_pauses_go_on_the_first_lane(h: Harness) -> None:
    from flexrec.recording.context import JOB_APPLY_PAUSE, JOB_FIND_LEGS, JOB_LINK, JOB_START
    from flexrec.recording.planner import Plan

    ctx = h.service.ctx
    lanes = _Lanes()
    ctx.background = lanes
    ctx.jobs = {name: print for name in (JOB_START, JOB_FIND_LEGS, JOB_APPLY_PAUSE, JOB_LINK)}
    for name in (JOB_START, JOB_FIND_LEGS, JOB_APPLY_PAUSE, JOB_LINK):
        ctx.schedule(name, 1, delay_s=0.5)
    assert lanes.lanes == [True, True, True, False]
    lanes.lanes.clear()
    h.service.planner.execute(Plan(start=[1], link=[2]))
    assert lanes.lanes == [True, False]  # the start first; the link write on the other lane
    ctx.background = None
    lanes.close()


def test_work_runs_in_the_submitters_context() -> None:
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")
    background = Background(threads=1)
    seen: list[str] = []
    done = threading.Event()
    var.set("the webhook")
    background.submit(lambda: (seen.append(var.get()), done.set()))
    assert done.wait(5)
    background.close()
    assert seen == ["the webhook"]  # the arrival time and bound SIDs travel with the work


def _progress(recording_sid: str, call_sid: str) -> RecordingStatusEvent:
    return RecordingStatusEvent(
        recording_sid=recording_sid,
        call_sid=call_sid,
        status="in-progress",
        url=None,
        channels=2,
        start_time_ms=None,
        duration_s=None,
        error_code=None,
        track="both",
        source="StartCallRecordingAPI",
    )


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    # start_on=task: the create runs inside the task.created webhook, where callbacks race it.
    harness = Harness(tmp_path, RecordingPolicy(start_on="task"))
    yield harness
    harness.close()


def test_in_progress_callbacks_of_our_own_starts_are_answered_from_memory(h: Harness) -> None:
    service = h.service
    seen_in_flight: list[bool] = []
    create = h.twilio.create_recording

    def create_and_call_back(request):  # type: ignore[no-untyped-def]
        # Twilio posts in-progress while our create is still being answered.
        seen_in_flight.append(service.intake.is_known_progress(_progress("RE" + "9" * 32, CA)))
        return create(request)

    h.twilio.create_recording = create_and_call_back  # type: ignore[method-assign]
    h.twilio.add_call(CA)
    h.twilio.add_task(WT, inbound_attrs(CA))
    h.tr("task.created", WT, inbound_attrs(CA), status="pending")
    assert seen_in_flight == [True]
    recording_sid = h.target(CA).recording_sid
    assert recording_sid is not None
    assert service.intake.is_known_progress(_progress(recording_sid, CA))  # stored as running
    other = fake_sid("CA", 7)
    assert not service.intake.is_known_progress(_progress(fake_sid("RE", 7), other))
    completed = RecordingStatusEvent(
        recording_sid=recording_sid, call_sid=CA, status="completed", url=None,
        channels=2, start_time_ms=None, duration_s=5, error_code=None, track=None, source=None,
    )  # fmt: skip
    assert not service.intake.is_known_progress(completed)


def test_a_parked_callback_is_handled_when_the_create_answer_is_lost(h: Harness) -> None:
    service = h.service
    parked: list[bool] = []
    create = h.twilio.create_recording

    def create_then_time_out(request):  # type: ignore[no-untyped-def]
        info = create(request)  # Twilio made it and posts in-progress...
        parked.append(service.intake.is_known_progress(_progress(info.sid, CA)))
        raise GatewayError("read timed out", status=None)  # ...but its answer never came

    h.twilio.create_recording = create_then_time_out  # type: ignore[method-assign]
    h.twilio.add_call(CA)
    h.twilio.add_task(WT, inbound_attrs(CA))
    h.tr("task.created", WT, inbound_attrs(CA), status="pending")
    assert parked == [True]
    (made,) = h.twilio.recordings_on(CA)
    # The attempt failed, so the parked callback was handled: the leg adopted its recording.
    target = h.target(CA)
    assert (target.state, target.recording_sid) == ("recording", made.sid)
    assert_one_voice_recording(h.twilio.tasks[WT].attributes)


def test_a_calls_entries_go_a_while_after_it_ends_and_a_live_calls_stay(h: Harness) -> None:
    clock = [0.0]
    ctx = h.service.ctx
    memos = h.service.task_events.memos
    memos.expiry = Expiry(linger_s=LINGER_S, clock=lambda: clock[0])
    ctx.calls = SeenCalls(expiry=Expiry(linger_s=LINGER_S, clock=lambda: clock[0]))
    starter = h.service.starter
    live_task, live_leg = fake_sid("WT", 2), fake_sid("CA", 2)
    for task, leg in ((WT, CA), (live_task, live_leg)):
        h.twilio.add_call(leg)
        h.twilio.add_task(task, inbound_attrs(leg))
        h.tr("task.created", task, inbound_attrs(leg), status="pending")
        h.call_status(leg, "in-progress", To="+15550001", From="+15550002")
    recording_sid = h.target(CA).recording_sid
    assert recording_sid is not None and recording_sid in starter.known_live
    # The call ends: its recording, its leg, its task.
    h.end_recording(recording_sid, "completed")
    assert recording_sid not in starter.known_live
    h.call_status(CA, "completed", To="+15550001", From="+15550002")
    h.tr("task.completed", WT, inbound_attrs(CA), status="completed")
    assert not ctx.attributes_seen.seen_within(WT, 3600)
    # What trails the end still finds the memo and the leg.
    assert memos.get(WT) is not None and ctx.calls.get(CA) is not None
    clock[0] += LINGER_S + 1
    # Forgotten on the next change (no timer): the other call's events.
    h.tr("task.updated", live_task, inbound_attrs(live_leg, note=1), status="pending")
    h.call_status(live_leg, "completed", To="+15550001", From="+15550002")
    assert memos.get(WT) is None and WT not in memos._task_locks
    assert ctx.calls.get(CA) is None
    assert memos.get(live_task) is not None and ctx.calls.get(live_leg) is not None
    # A late event of the task over takes the full path; the terminal status stays.
    h.tr("task.updated", WT, inbound_attrs(CA), status="pending")
    row = h.task_row(WT)
    assert row is not None and row.status == "completed"


def test_expiry_gives_each_key_once_when_due() -> None:
    clock = [0.0]
    expiry = Expiry(linger_s=10, clock=lambda: clock[0])
    expiry.mark("a")
    clock[0] = 5
    expiry.mark("b")
    expiry.mark("a")  # marked already: its time stays
    assert expiry.due() == []
    clock[0] = 10
    assert expiry.due() == ["a"]
    clock[0] = 15
    assert expiry.due() == ["b"] and expiry.due() == [] and len(expiry) == 0

"""Each process keeps its run for good: when it answered, when it was last alive, how it ended."""

from __future__ import annotations

from datetime import datetime, timedelta

from recording_harness import Harness

from flexrec.db.models import ServiceOwner, ServiceRun
from flexrec.recording.dedup import mark_seen
from flexrec.recording.owners import OwnerLease


class Processes:
    """Which (fake) PIDs are running on this (fake) host."""

    def __init__(self) -> None:
        self.running: set[int] = set()

    def alive(self, pid: int, _started: int | None) -> bool:
        return pid in self.running


def _start(h: Harness, procs: Processes, pid: int) -> OwnerLease:
    lease = OwnerLease(h.sessions, h.clock, host="host-a", pid=pid, alive=procs.alive)
    lease.register()
    procs.running.add(pid)
    return lease


def _run(h: Harness, lease: OwnerLease) -> ServiceRun:
    with h.sessions() as session:
        run = session.get(ServiceRun, lease.run_id)
        assert run is not None
        session.expunge(run)
        return run


def test_a_run_keeps_when_it_answered_its_heartbeats_and_its_clean_stop(h: Harness) -> None:
    procs = Processes()
    started = h.clock()
    lease = _start(h, procs, pid=101)
    h.clock.advance(2)
    lease.answering()
    h.clock.advance(3)
    lease.alive()
    h.clock.advance(1)
    lease.answering()  # a second mark does not move the first
    run = _run(h, lease)
    assert (run.started_at, run.answering_at, run.alive_at, run.ended_at) == (
        started, started + timedelta(seconds=2), started + timedelta(seconds=5), None
    )  # fmt: skip
    h.clock.advance(4)
    lease.close()
    run = _run(h, lease)
    assert run.ended_at == run.alive_at == started + timedelta(seconds=10)
    with h.sessions() as session:
        assert session.get(ServiceOwner, lease.owner_id) is None  # the owner row goes; not the run


def test_a_killed_run_ends_at_its_last_sign_of_life_not_its_successors(h: Harness) -> None:
    """The process killed -9 beat at +3 s and handled a webhook at +4.5 s; its successor
    started at +8 s and handled webhooks of its own: the run ended at +4.5 s."""
    procs = Processes()
    t0 = h.clock()
    first = _start(h, procs, pid=101)
    first.answering()
    h.clock.advance(3)
    first.alive()
    mark_seen(h.sessions, "tr:last-before-the-kill", "taskrouter", t0 + timedelta(seconds=4.5))
    procs.running.discard(101)  # kill -9 at about +5 s

    h.clock.advance(5)  # +8 s
    second = _start(h, procs, pid=202)
    h.clock.advance(1)
    second.answering()
    mark_seen(h.sessions, "tr:after-the-restart", "taskrouter", h.clock())
    second.reap()

    assert _run(h, first).ended_at == t0 + timedelta(seconds=4.5)
    assert _run(h, second).ended_at is None


def test_a_quiet_line_ends_a_killed_run_at_its_last_heartbeat(h: Harness) -> None:
    procs = Processes()
    first = _start(h, procs, pid=101)
    first.answering()
    h.clock.advance(3)
    first.alive()
    beat_at: datetime = h.clock()
    procs.running.discard(101)
    h.clock.advance(6)
    _start(h, procs, pid=202).reap()
    assert _run(h, first).ended_at == beat_at


def test_a_process_taken_for_gone_after_a_stall_runs_again_when_it_beats(h: Harness) -> None:
    procs = Processes()
    stalled = OwnerLease(h.sessions, h.clock, host="host-b", pid=7, alive=procs.alive, lease_s=20)
    stalled.register()
    stalled.answering()
    run_id = stalled.run_id
    h.clock.advance(60)  # no heartbeat for a minute: another host's process reaps it
    _start(h, procs, pid=101).reap()
    assert _run(h, stalled).ended_at is not None
    stalled.beat()  # it was only stalled: a new owner id, the same run, running again
    stalled.alive()
    run = _run(h, stalled)
    assert (stalled.run_id, run.ended_at, run.alive_at) == (run_id, None, h.clock())


def test_a_task_created_after_the_last_beat_is_a_sign_of_life(h: Harness) -> None:
    procs = Processes()
    first = _start(h, procs, pid=101)
    first.answering()
    beat_at: datetime = h.clock()
    h.clock.advance(0.6)
    h.tr("task.created", "WT" + "1" * 32, {"direction": "inbound"}, status="pending")
    procs.running.discard(101)
    h.clock.advance(5)
    _start(h, procs, pid=202).reap()
    assert _run(h, first).ended_at == beat_at + timedelta(seconds=0.6)


def test_a_run_that_never_takes_webhooks_writes_no_heartbeat(h: Harness) -> None:
    """`flexrec serve`'s jobs worker: no uptime for the coverage report to keep, so no write a
    second on the database the webhooks write to."""
    procs = Processes()
    started = h.clock()
    worker = _start(h, procs, pid=303)
    h.clock.advance(5)
    worker.alive()
    assert _run(h, worker).alive_at == started


def test_the_heartbeats_and_an_idle_reap_run_prepared_statements_only(h: Harness) -> None:
    # They run every second or three of the process's life, traffic or none: each heartbeat is
    # one UPDATE that begins its own write transaction, the usual reap three reads, and none of
    # them goes through SQLAlchemy's execution (about ten times the CPU).
    from test_recording_task_memo import statements

    procs = Processes()
    lease = _start(h, procs, pid=101)
    lease.answering()
    with statements(h) as seen:
        lease.alive()
    assert seen == ["UPDATE"], seen
    with statements(h) as seen:
        lease.beat()
    assert seen == ["UPDATE"], seen
    with statements(h) as seen:
        assert lease.reap() == []
    assert seen == ["SELECT", "SELECT", "SELECT"], seen

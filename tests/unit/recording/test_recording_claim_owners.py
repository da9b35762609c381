"""A crashed process's claims come back at once; a live process's claims are never taken."""

from __future__ import annotations

from typing import Any

import pytest
from recording_harness import Harness, inbound_attrs
from sim_twilio import fake_sid, rate_limited
from testkit import assert_not_recorded, assert_recorded_exactly_once

from flexrec.db.models import ServiceOwner
from flexrec.recording.owners import OwnerLease, host_key, pid_alive, process_started
from flexrec.recording.service import RecordingService
from flexrec.recording.starter import Claim

TASK = fake_sid("WT", 1)
CUSTOMER = fake_sid("CA", 1)
RES = fake_sid("WR", 1)
AGENT = fake_sid("WK", 1)


class Killed(BaseException):
    """kill -9 in the middle of the Recording API call: nothing after it runs."""


class Processes:
    """Which (fake) PIDs are running on this (fake) host."""

    def __init__(self) -> None:
        self.running: set[int] = set()

    def alive(self, pid: int, _started: int | None) -> bool:
        return pid in self.running


def _process(h: Harness, procs: Processes, pid: int, host: str = "host-a") -> RecordingService:
    """A service process with its own owner lease on the shared database."""
    service = h.make_service(h.service.policy)
    lease = OwnerLease(h.sessions, h.clock, host=host, pid=pid, alive=procs.alive)
    lease.register()
    procs.running.add(pid)
    service.set_lease(lease)
    return service


def _lease(service: RecordingService) -> OwnerLease:
    lease = service.ctx.lease
    assert lease is not None
    return lease


def _die_mid_create(h: Harness, service: RecordingService) -> None:
    """Accept the call; the process dies while its create request is out."""
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    original = h.twilio.create_recording

    def killed(request: Any) -> Any:
        h.twilio.create_recording = original  # type: ignore[method-assign]
        raise Killed

    h.twilio.create_recording = killed  # type: ignore[method-assign]
    h.service = service
    attrs = inbound_attrs(CUSTOMER)
    h.tr("task.created", TASK, attrs, status="pending")
    with pytest.raises(Killed):
        h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    target = h.target(CUSTOMER)
    assert target.state == "starting"
    assert target.claim_owner == _lease(service).owner_id


def test_a_restart_takes_back_a_dead_process_claim_at_once(h: Harness) -> None:
    procs = Processes()
    first = _process(h, procs, pid=101)
    _die_mid_create(h, first)
    procs.running.discard(101)  # kill -9

    second = _process(h, procs, pid=202)
    h.queue.pending.clear()
    second.reconciler.reconcile()  # start-up recovery, with the clock where the crash left it
    h.queue.run_all()

    recordings = h.twilio.recordings_on(CUSTOMER)
    assert len(recordings) == 1
    assert h.target(CUSTOMER).state == "recording"
    with h.sessions() as session:
        assert session.get(ServiceOwner, _lease(first).owner_id) is None


def test_the_heartbeat_of_another_process_takes_back_a_dead_web_process_claim(
    h: Harness,
) -> None:
    procs = Processes()
    web = _process(h, procs, pid=101)
    supervisor = _process(h, procs, pid=202)
    _die_mid_create(h, web)
    procs.running.discard(101)  # one web process of `--processes N` killed -9
    h.queue.pending.clear()

    assert supervisor.reconciler.recover_claims() == [h.target(CUSTOMER).id]
    h.queue.run_all()

    assert_recorded_exactly_once(h.twilio, CUSTOMER)


def test_a_live_process_claim_is_never_taken(h: Harness) -> None:
    procs = Processes()
    busy = _process(h, procs, pid=101)
    other = _process(h, procs, pid=202, host="host-b")
    _die_mid_create(h, busy)  # the attempt is stuck, but the process lives and beats
    h.queue.pending.clear()

    for _ in range(5):
        h.clock.advance(10)  # longer than the lease in all, shorter than the visibility window
        _lease(busy).beat()
        other.reconciler.reconcile()
        h.queue.run_all()
        assert other.reconciler.recover_claims() == []

    assert_not_recorded(h.twilio, CUSTOMER)
    assert h.target(CUSTOMER).claim_owner == _lease(busy).owner_id


def test_a_process_on_another_host_is_gone_once_its_lease_runs_out(h: Harness) -> None:
    procs = Processes()
    far = _process(h, procs, pid=101, host="host-b")
    near = _process(h, procs, pid=202)
    _die_mid_create(h, far)
    h.queue.pending.clear()

    h.clock.advance(_lease(far).lease.total_seconds() / 2)
    assert near.reconciler.recover_claims() == []  # still inside its lease: maybe only slow
    h.clock.advance(_lease(far).lease.total_seconds())
    assert near.reconciler.recover_claims() == [h.target(CUSTOMER).id]
    h.queue.run_all()
    assert_recorded_exactly_once(h.twilio, CUSTOMER)


def test_a_reaped_process_neither_claims_nor_creates_under_its_old_id(h: Harness) -> None:
    procs = Processes()
    now_ms = [0.0]
    stalled = h.make_service(h.service.policy)
    lease = OwnerLease(
        h.sessions, h.clock, host="host-b", pid=101, alive=procs.alive, monotonic=lambda: now_ms[0]
    )
    lease.register()
    stalled.set_lease(lease)
    old_id = lease.owner_id
    reaper = _process(h, procs, pid=202)
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))

    # A claim taken before the stall may not be used once the lease has lapsed.
    now_ms[0] += lease.lease.total_seconds()
    assert not lease.holds(old_id)
    h.clock.advance(lease.lease.total_seconds() * 2)
    reaper.reconciler.recover_claims()
    with h.sessions() as session:
        assert session.get(ServiceOwner, old_id) is None

    h.service = stalled
    attrs = inbound_attrs(CUSTOMER)
    h.tr("task.created", TASK, attrs, status="pending")
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    assert_not_recorded(h.twilio, CUSTOMER)  # no claim under a reaped owner id
    assert h.target(CUSTOMER).state == "pending"

    lease.beat()  # the stall ends: a fresh owner id, and the work goes on
    assert lease.owner_id != old_id
    assert lease.holds(lease.owner_id)
    stalled.planner.start(h.target(CUSTOMER).id)
    assert_recorded_exactly_once(h.twilio, CUSTOMER)


def test_a_lapsed_lease_gives_the_claim_back_instead_of_creating(h: Harness) -> None:
    procs = Processes()
    clock_s = [0.0]
    service = h.make_service(h.service.policy)
    lease = OwnerLease(
        h.sessions, h.clock, host="host-a", pid=101, alive=procs.alive, monotonic=lambda: clock_s[0]
    )
    lease.register()
    service.set_lease(lease)
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    h.service = service
    h.twilio.fail_next("create_recording", rate_limited())  # the first attempt is retried later
    attrs = inbound_attrs(CUSTOMER)
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    target_id = h.target(CUSTOMER).id
    h.clock.advance(3600)
    with h.sessions.begin() as session:
        claim = service.starter.claim_in(session, h.target(CUSTOMER), h.clock())
    assert isinstance(claim, Claim)
    clock_s[0] += lease.lease.total_seconds()  # the heartbeats stopped getting through

    assert service.planner.start(target_id, claim).outcome == "retry"
    assert h.twilio.count("create_recording") == 1  # only the first attempt's, refused
    assert h.target(CUSTOMER).state == "pending"


def test_a_clean_shutdown_frees_what_the_process_still_claims(h: Harness) -> None:
    procs = Processes()
    first = _process(h, procs, pid=101)
    _die_mid_create(h, first)
    _lease(first).close()  # procs still says 101 runs: only the missing row frees the claim
    second = _process(h, procs, pid=202, host="host-b")
    h.queue.pending.clear()

    assert second.reconciler.recover_claims() == [h.target(CUSTOMER).id]


def test_the_process_identity_helpers_describe_this_process() -> None:
    import os

    started = process_started(os.getpid())
    assert pid_alive(os.getpid(), started)
    assert not pid_alive(os.getpid(), (started or 0) + 1) or started is None
    assert not pid_alive(0, None)
    assert host_key() == host_key()

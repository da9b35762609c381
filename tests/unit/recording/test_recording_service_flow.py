"""Exactly one recording per customer leg across duplicates, reordering, races and failures."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from recording_harness import Harness, inbound_attrs, outbound_attrs, with_conference
from sim_twilio import fake_sid, rate_limited, timeout_error, unavailable
from sqlalchemy import event, update
from sqlalchemy.orm import Session
from testkit import assert_not_recorded, assert_one_voice_recording, assert_recorded_exactly_once

from flexrec.db.models import RecordingRecord
from flexrec.db.prepared import watch
from flexrec.recording.dedup import mark_seen
from flexrec.recording.policy import RecordingPolicy
from flexrec.recording.views import RecordingView
from flexrec.twilio.gateway import GatewayError

TASK = fake_sid("WT", 1)
TASK2 = fake_sid("WT", 2)
CUSTOMER = fake_sid("CA", 1)
WORKER = fake_sid("CA", 2)
WORKER2 = fake_sid("CA", 3)
RES = fake_sid("WR", 1)
RES2 = fake_sid("WR", 2)
AGENT = fake_sid("WK", 1)
AGENT2 = fake_sid("WK", 2)


@contextmanager
def statements(h: Harness, *, words: int) -> Iterator[tuple[list[str], list[str]]]:
    """The statements run inside: (first word of each through SQLAlchemy, first `words` words
    of each prepared one on a bare connection), upper-cased."""
    through_sqlalchemy: list[str] = []
    prepared: list[str] = []

    def on_execute(_c: object, _cur: object, statement: str, *_: object) -> None:
        through_sqlalchemy.append(statement.split(None, 1)[0].upper())

    event.listen(h.engine, "before_cursor_execute", on_execute)
    try:
        with watch(lambda sql: prepared.append(" ".join(sql.split()[:words]).upper())):
            yield through_sqlalchemy, prepared
    finally:
        event.remove(h.engine, "before_cursor_execute", on_execute)


def accept_inbound(h: Harness, task: str = TASK, res: str = RES, agent: str = AGENT) -> None:
    attrs = inbound_attrs(CUSTOMER)
    h.tr("task.created", task, attrs, status="pending")
    h.tr("reservation.created", task, attrs, status="reserved", reservation=res, worker=agent)
    h.tr("reservation.accepted", task, attrs, status="assigned", reservation=res, worker=agent)


def test_inbound_accept_starts_one_dual_recording_and_links_it(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER, custom={"keep": 1}))
    accept_inbound(h)

    recs = h.twilio.recordings_on(CUSTOMER)
    assert len(recs) == 1
    request = recs[0].request
    assert request is not None
    assert request.channels == "dual"
    assert request.status_callback == "https://rec.example.com/webhooks/recording-status"
    # Not in-progress: the create's answer says it runs (one webhook a recording less).
    assert request.events == ("completed", "absent", "failed")
    assert request.trim == "do-not-trim"
    target = h.target(CUSTOMER)
    assert (target.state, target.recording_sid, target.source) == (
        "recording",
        recs[0].sid,
        "created",
    )
    media = h.media(TASK)
    assert media == [
        {
            "type": "VoiceRecording",
            "url": f"https://api.twilio.com/2010-04-01/Accounts/{h.twilio.account_sid}/Recordings/{recs[0].sid}",
            "start_time": h.clock.ms(),
            "channels": ["customer", "others"],
        }
    ]
    assert h.twilio.tasks[TASK].attributes["custom"] == {"keep": 1}
    assert h.twilio.tasks[TASK].attributes["call_sid"] == CUSTOMER


def test_answer_policy_waits_for_the_agent(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.tr("task.created", TASK, inbound_attrs(CUSTOMER), status="pending")
    assert h.targets() == []
    assert h.twilio.count("create_recording") == 0


def test_task_policy_starts_at_task_creation_for_inbound(tmp_path: Path) -> None:
    h = Harness(tmp_path, RecordingPolicy(start_on="task"))
    try:
        h.twilio.add_call(CUSTOMER)
        h.tr("task.created", TASK, inbound_attrs(CUSTOMER), status="pending")
        assert_recorded_exactly_once(h.twilio, CUSTOMER)
    finally:
        h.close()


def test_duplicate_and_repeated_events_make_no_second_recording(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    accept_inbound(h)
    accept_inbound(h)  # redelivered (new timestamps)
    h.tr("task.updated", TASK, inbound_attrs(CUSTOMER), status="assigned")
    assert_recorded_exactly_once(h.twilio, CUSTOMER)
    assert h.twilio.count("create_recording") == 1
    assert len(h.targets()) == 1


def test_exact_duplicate_delivery_is_skipped(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    attrs = inbound_attrs(CUSTOMER)
    ts = h.next_ms()
    for _ in range(3):
        h.tr("reservation.accepted", TASK, attrs, ts_ms=ts, status="assigned", reservation=RES,
             worker=AGENT)  # fmt: skip
    assert h.twilio.count("create_recording") == 1
    # One round trip: nothing can be on the leg yet, so it was not listed first.
    assert h.twilio.count("list_recordings") == 0


def test_reordered_events_still_record_once(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    attrs = inbound_attrs(CUSTOMER)
    base = h.next_ms()
    h.tr("reservation.accepted", TASK, attrs, ts_ms=base + 3000, status="assigned",
         reservation=RES, worker=AGENT)  # fmt: skip
    h.tr("task.created", TASK, attrs, ts_ms=base, status="pending")
    h.tr("reservation.created", TASK, attrs, ts_ms=base + 1000, status="reserved",
         reservation=RES, worker=AGENT)  # fmt: skip
    assert_recorded_exactly_once(h.twilio, CUSTOMER)
    row = h.task_row(TASK)
    assert row is not None
    assert row.status == "assigned"  # the older events did not move it back


def test_outbound_learns_customer_leg_from_task_updated(h: Harness) -> None:
    h.twilio.add_call(WORKER)
    attrs = outbound_attrs()
    h.twilio.add_task(TASK, attrs)
    h.tr("task.created", TASK, attrs, status="pending")
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    h.tr("task.updated", TASK, with_conference(attrs, WORKER), status="assigned")
    assert h.targets() == []  # the customer leg does not exist yet
    h.twilio.add_call(CUSTOMER)
    h.tr("task.updated", TASK, with_conference(attrs, WORKER, CUSTOMER), status="assigned")
    assert_recorded_exactly_once(h.twilio, CUSTOMER)
    assert_not_recorded(h.twilio, WORKER)
    task_attrs = h.twilio.tasks[TASK].attributes
    assert "call_sid" not in task_attrs  # never written, never the worker leg
    assert_one_voice_recording(h.twilio.tasks[TASK].attributes)


def test_outbound_learns_customer_leg_from_conference_join(h: Harness) -> None:
    attrs = outbound_attrs()
    h.twilio.add_task(TASK, attrs)
    h.twilio.add_call(CUSTOMER)
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    h.conference("participant-join", WORKER, "worker", TASK)
    h.conference("participant-join", CUSTOMER, "customer", TASK)
    assert_recorded_exactly_once(h.twilio, CUSTOMER)
    # Flex's attribute write arrives afterwards: nothing new happens.
    h.tr("task.updated", TASK, with_conference(attrs, WORKER, CUSTOMER), status="assigned")
    assert h.twilio.count("create_recording") == 1


def test_conference_join_before_any_task_event_fetches_the_task(h: Harness) -> None:
    attrs = with_conference(outbound_attrs(), WORKER)
    h.twilio.add_task(TASK, attrs, assignment_status="assigned")
    h.twilio.add_call(CUSTOMER)
    h.conference("participant-join", CUSTOMER, "customer", TASK)
    assert_recorded_exactly_once(h.twilio, CUSTOMER)


def test_two_paths_racing_in_threads_make_one_recording(h: Harness) -> None:
    attrs = outbound_attrs()
    h.twilio.add_task(TASK, attrs)
    h.twilio.add_call(CUSTOMER)
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def via_task_updated() -> None:
        barrier.wait()
        h.tr("task.updated", TASK, with_conference(attrs, WORKER, CUSTOMER), status="assigned")

    def via_conference() -> None:
        barrier.wait()
        h.conference("participant-join", CUSTOMER, "customer", TASK)

    def run(fn: object) -> None:
        try:
            fn()  # type: ignore[operator]
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f,)) for f in
               (via_task_updated, via_conference, via_task_updated, via_conference)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert_recorded_exactly_once(h.twilio, CUSTOMER)
    assert_one_voice_recording(h.twilio.tasks[TASK].attributes)


def test_lost_create_response_is_adopted_not_duplicated(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    h.twilio.lose_response_next("create_recording")
    accept_inbound(h)
    assert h.target(CUSTOMER).state == "pending"  # retry scheduled
    assert_recorded_exactly_once(h.twilio, CUSTOMER)  # Twilio did create it
    h.clock.advance(600)
    h.queue.run_all()
    target = h.target(CUSTOMER)
    assert (target.state, target.source) == ("recording", "adopted")
    assert_recorded_exactly_once(h.twilio, CUSTOMER)
    assert target.recording_sid == h.twilio.recordings_on(CUSTOMER)[0].sid
    assert_one_voice_recording(h.twilio.tasks[TASK].attributes)


def test_crash_after_claim_is_recovered_by_reconcile(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    # The process dies inside the fast path after Twilio created the recording.
    h.twilio.fail_next("create_recording", timeout_error())
    original = h.service.starter._commit_started

    def crash(*args: object, **kwargs: object) -> None:
        raise SystemExit("killed")

    h.twilio.fail_next("list_recordings")  # no-op marker: keep the queue FIFO simple
    h.service.starter._commit_started = crash  # type: ignore[method-assign]
    accept_inbound(h)  # first attempt: the create times out unsent → retry row; no crash yet
    h.clock.advance(600)
    with pytest.raises(SystemExit):
        h.service.planner.start(h.target(CUSTOMER).id)
    h.service.starter._commit_started = original  # type: ignore[method-assign]
    assert h.target(CUSTOMER).state == "starting"
    assert h.service.reconciler.reconcile() == 0  # claim is fresh: not stale yet
    h.clock.advance(61)
    h.queue.pending.clear()
    assert h.service.reconciler.reconcile() == 1
    h.queue.run_all()
    target = h.target(CUSTOMER)
    assert (target.state, target.source) == ("recording", "adopted")
    assert_recorded_exactly_once(h.twilio, CUSTOMER)


def test_21220_while_ringing_retries_then_records(h: Harness) -> None:
    attrs = outbound_attrs()
    h.twilio.add_task(TASK, attrs)
    h.twilio.add_call(CUSTOMER, "ringing")
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    h.tr("task.updated", TASK, with_conference(attrs, WORKER, CUSTOMER), status="assigned")
    target = h.target(CUSTOMER)
    assert target.state == "pending"
    assert target.last_error is not None and "ringing" in target.last_error
    h.twilio.add_call(CUSTOMER, "in-progress")
    h.clock.advance(600)
    h.queue.run_all()
    assert h.target(CUSTOMER).state == "recording"
    assert_recorded_exactly_once(h.twilio, CUSTOMER)


def test_21220_on_an_ended_call_ends_the_target(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER, "completed")
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    accept_inbound(h)
    assert h.target(CUSTOMER).state == "ended"
    assert h.queue.pending == []
    assert h.media(TASK) == []  # nothing like ".../Recordings/undefined" is ever written


@pytest.mark.parametrize("error", [rate_limited(), unavailable(), timeout_error()])
def test_transient_errors_retry_with_backoff_until_success(h: Harness, error: object) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    h.twilio.fail_next("create_recording", error, error)  # type: ignore[arg-type]
    accept_inbound(h)
    delays = []
    while h.queue.pending:
        delays.append(h.queue.pending[0].delay_s)
        h.clock.advance(600)
        h.queue.run_all(max_jobs=1)
    assert h.target(CUSTOMER).state == "recording"
    assert_recorded_exactly_once(h.twilio, CUSTOMER)
    assert len(delays) == 2 and delays[1] > delays[0] * 0.5  # exponential with jitter
    assert h.target(CUSTOMER).attempts == 3


def test_other_4xx_fails_with_the_error_recorded(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    h.twilio.fail_next(
        "create_recording", GatewayError("Twilio 400 21201: bad", status=400, code=21201)
    )
    accept_inbound(h)
    target = h.target(CUSTOMER)
    assert target.state == "failed"
    assert target.last_error is not None and "21201" in target.last_error
    assert h.media(TASK) == []


def test_call_status_completed_ends_a_pending_target(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    h.twilio.fail_next("create_recording", unavailable())
    accept_inbound(h)
    assert h.target(CUSTOMER).state == "pending"
    h.call_status(CUSTOMER, "completed")
    assert h.target(CUSTOMER).state == "ended"


def test_studio_recording_is_adopted_and_kept_single(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    studio_sid = h.twilio.start_external_recording(CUSTOMER)
    studio_entry = {
        "type": "VoiceRecording",
        "url": f"https://api.twilio.com/2010-04-01/Accounts/{h.twilio.account_sid}/Recordings/{studio_sid}",
        "start_time": "2026-11-24T11:59:00Z",
        "channels": ["customer", "others"],
    }
    attrs = inbound_attrs(CUSTOMER, conversations={"media": [studio_entry]})
    h.twilio.add_task(TASK, attrs)
    h.tr("task.created", TASK, attrs, status="pending")
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    assert h.twilio.count("create_recording") == 0
    target = h.target(CUSTOMER)
    # adopted because the leg's recordings list it running in dual channel, not because the
    # attributes name it
    assert (target.recording_sid, target.source) == (studio_sid, "adopted")
    assert h.media(TASK) == [studio_entry]  # untouched, still exactly one


def test_studio_recording_not_in_attributes_is_adopted_by_listing(tmp_path: Path) -> None:
    # An account whose Studio flow records legs without a trace in the task: the policy says
    # so (list_before_create = "always"), and every start lists the leg first.
    h = Harness(tmp_path, RecordingPolicy(list_before_create="always"))
    h.twilio.add_call(CUSTOMER)
    studio_sid = h.twilio.start_external_recording(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    accept_inbound(h)
    assert h.twilio.count("create_recording") == 0
    assert h.target(CUSTOMER).recording_sid == studio_sid
    assert [m["url"].rsplit("/", 1)[-1] for m in h.media(TASK)] == [studio_sid]


def test_transfer_second_reservation_makes_no_second_recording(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    accept_inbound(h)
    attrs = with_conference(inbound_attrs(CUSTOMER), WORKER2)
    h.tr("reservation.wrapup", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    h.tr("reservation.created", TASK, attrs, status="reserved", reservation=RES2, worker=AGENT2)
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES2, worker=AGENT2)
    h.conference("participant-join", WORKER2, "worker", TASK)
    assert h.twilio.count("create_recording") == 1
    assert_one_voice_recording(h.twilio.tasks[TASK].attributes)


def test_new_task_for_the_same_call_gets_the_same_recording_linked(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    h.twilio.add_task(TASK2, inbound_attrs(CUSTOMER))
    accept_inbound(h)
    attrs2 = inbound_attrs(CUSTOMER)
    h.tr("task.created", TASK2, attrs2, status="pending")  # queue transfer: not yet answered
    h.tr("reservation.accepted", TASK2, attrs2, status="assigned", reservation=RES2, worker=AGENT2)
    assert h.twilio.count("create_recording") == 1
    assert h.media(TASK) == h.media(TASK2)
    assert_one_voice_recording(h.twilio.tasks[TASK2].attributes)
    assert {link.task_sid for link in h.links()} == {TASK, TASK2}


def test_internal_calls_are_not_recorded(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    attrs = {"client_call": True, "direction": "outbound", "call_sid": CUSTOMER}
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    assert h.targets() == []
    row = h.task_row(TASK)
    assert row is not None and row.policy_decision is not None
    assert "internal" in row.policy_decision


def test_non_voice_tasks_are_ignored(h: Harness) -> None:
    h.tr("reservation.accepted", TASK, {"channelType": "web"}, status="assigned",
         reservation=RES, worker=AGENT, channel="chat")  # fmt: skip
    assert h.targets() == []


def test_policy_exclusion_by_queue_prevents_recording(tmp_path: Path) -> None:
    from flexrec.recording.policy import Selector

    h = Harness(tmp_path, RecordingPolicy(exclude=Selector(queues=("Sales",))))
    try:
        h.twilio.add_call(CUSTOMER)
        accept_inbound(h)
        assert h.targets() == []
        row = h.task_row(TASK)
        assert row is not None and row.policy_decision == "queue excluded"
    finally:
        h.close()


def test_direction_policy_skips_outbound(tmp_path: Path) -> None:
    h = Harness(tmp_path, RecordingPolicy(direction="inbound"))
    try:
        attrs = with_conference(outbound_attrs(), WORKER, CUSTOMER)
        h.twilio.add_call(CUSTOMER)
        h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
        assert h.targets() == []
    finally:
        h.close()


def test_recording_status_callbacks_complete_the_target_and_notify(h: Harness) -> None:
    seen = []
    h.service.intake.on_recording_completed(seen.append)
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    accept_inbound(h)
    sid = h.target(CUSTOMER).recording_sid
    assert sid is not None
    h.recording_status(sid, CUSTOMER, "in-progress")
    h.recording_status(sid, CUSTOMER, "completed")
    h.recording_status(sid, CUSTOMER, "in-progress")  # late, out of order: ignored
    assert h.target(CUSTOMER).state == "completed"
    assert len(seen) == 1
    view = seen[0]
    assert (view.sid, view.status, view.duration_s, view.task_sids) == (
        sid,
        "completed",
        42,
        (TASK,),
    )
    assert view.channel_labels == ("customer", "others")
    assert h.service.list_recordings(status="completed")[0].sid == sid


def _write_transactions() -> float:
    return REGISTRY.get_sample_value("flexrec_db_write_transactions_total") or 0.0


def test_a_completion_note_commits_with_the_status_in_one_write_transaction(h: Harness) -> None:
    noted: list[tuple[str, str]] = []
    after: list[str] = []

    def note(session: Session, view: RecordingView) -> None:
        # Written where the status is: the row it reads is the one this transaction wrote.
        session.execute(
            update(RecordingRecord).where(RecordingRecord.sid == view.sid).values(track="noted")
        )
        noted.append((view.sid, h.target(CUSTOMER).state))

    h.service.intake.note_recording_completed(note)
    h.service.intake.on_recording_completed(lambda view: after.append(view.sid))
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    accept_inbound(h)
    sid = h.target(CUSTOMER).recording_sid
    assert sid is not None
    before = _write_transactions()
    h.recording_status(sid, CUSTOMER, "completed")
    assert _write_transactions() - before == 1  # the status, its rows and the note together
    # Another connection saw the target not yet completed: the note ran before the commit.
    assert noted == [(sid, "recording")] and after == [sid]
    with h.sessions() as s:
        row = s.get(RecordingRecord, sid)
        assert row is not None and (row.status, row.track) == ("completed", "noted")


def test_a_completed_callback_writes_its_rows_as_prepared_statements(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    accept_inbound(h)
    sid = h.target(CUSTOMER).recording_sid
    assert sid is not None
    h.recording_status(sid, CUSTOMER, "in-progress")
    with statements(h, words=3) as (through_sqlalchemy, prepared):
        h.recording_status(sid, CUSTOMER, "completed")
    # The target and recording rows read, then each written with what changed: no ORM flush.
    assert through_sqlalchemy == []
    assert [p for p in prepared if p.startswith("UPDATE")] == [
        "UPDATE RECORDING_TARGETS SET",
        "UPDATE RECORDINGS SET",
    ]
    assert len(prepared) == 5  # BEGIN IMMEDIATE, the two reads, the two writes
    assert h.target(CUSTOMER).state == "completed"


def test_a_failed_completion_note_leaves_the_status_to_its_redelivery(h: Harness) -> None:
    fail = [True]
    notes: list[str] = []

    def note(session: Session, view: RecordingView) -> None:
        notes.append(view.sid)
        if fail[0]:
            raise RuntimeError("the note could not be written")

    h.service.intake.note_recording_completed(note)
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    accept_inbound(h)
    sid = h.target(CUSTOMER).recording_sid
    assert sid is not None
    with pytest.raises(RuntimeError):
        h.recording_status(sid, CUSTOMER, "completed")  # answered 500: Twilio redelivers
    assert h.target(CUSTOMER).state == "recording"  # neither the status nor the note
    fail[0] = False
    h.recording_status(sid, CUSTOMER, "completed")
    assert h.target(CUSTOMER).state == "completed" and notes == [sid, sid]


def test_status_callback_before_create_response_is_adopted(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    h.twilio.fail_next("create_recording", unavailable())
    accept_inbound(h)  # pending, retry queued
    sid = h.twilio.start_external_recording(CUSTOMER)  # as if an earlier create had succeeded
    h.recording_status(sid, CUSTOMER, "in-progress")
    target = h.target(CUSTOMER)
    assert (target.state, target.recording_sid) == ("recording", sid)
    h.clock.advance(600)
    h.queue.run_all()
    assert h.twilio.count("create_recording") == 1  # the first attempt's, refused: no second
    assert_one_voice_recording(h.twilio.tasks[TASK].attributes)


def test_absent_recording_of_an_ended_call_is_recorded_as_absent(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    accept_inbound(h)
    sid = h.target(CUSTOMER).recording_sid
    assert sid is not None
    h.twilio.add_call(CUSTOMER, "completed")  # a short call: the customer hung up at once
    h.recording_status(sid, CUSTOMER, "absent", ErrorCode="16101")
    target = h.target(CUSTOMER)
    assert target.state == "absent"
    assert target.call_ended_at is not None  # Twilio was asked: the call is over, final
    assert h.twilio.count("create_recording") == 1
    assert h.service.list_recordings()[0].error_code == 16101


def test_reconcile_finds_live_tasks_without_targets(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER), assignment_status="assigned")
    assert h.service.reconciler.reconcile() == 1
    h.queue.run_all()
    assert_recorded_exactly_once(h.twilio, CUSTOMER)
    assert_one_voice_recording(h.twilio.tasks[TASK].attributes)
    assert h.service.reconciler.reconcile() == 0  # nothing left to do


def test_list_tasks_reports_recording_state(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    accept_inbound(h)
    views = h.service.list_tasks(direction="inbound")
    assert [(v.sid, v.recording_state, v.customer_call_sid) for v in views] == [
        (TASK, "recording", CUSTOMER)
    ]
    assert h.service.list_tasks(direction="outbound") == []
    assert h.service.list_tasks(queue="Sales", call_sid=CUSTOMER)[0].sid == TASK


def test_list_recordings_filters_by_the_linked_task(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    accept_inbound(h)
    sid = h.target(CUSTOMER).recording_sid
    matching = (
        {"direction": "inbound"},
        {"queue": "Sales"},
        {"task_sid": TASK},
        {"direction": "inbound", "queue": "Sales", "task_sid": TASK},
    )
    for filters in matching:
        assert [v.sid for v in h.service.list_recordings(**filters)] == [sid], filters
    for filters in ({"direction": "outbound"}, {"queue": "Support"}, {"task_sid": TASK2}):
        assert h.service.list_recordings(**filters) == [], filters


def test_studio_recording_completion_is_learned_by_refresh(tmp_path: Path) -> None:
    h = Harness(tmp_path, RecordingPolicy(list_before_create="always"))
    seen = []
    h.service.intake.on_recording_completed(seen.append)
    h.twilio.add_call(CUSTOMER)
    studio_sid = h.twilio.start_external_recording(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    accept_inbound(h)
    h.conference("participant-leave", CUSTOMER, "customer", TASK)
    assert [j.name for j in h.queue.pending] == ["recording.refresh"]
    h.queue.run_all(max_jobs=1)  # still in progress: looks again later
    assert h.target(CUSTOMER).state == "recording"
    h.twilio.add_call(CUSTOMER, "completed")  # the call ends; Twilio completes the recording
    h.queue.run_all()
    assert h.target(CUSTOMER).state == "completed"
    assert [v.sid for v in seen] == [studio_sid]
    assert seen[0].media_url is not None and seen[0].media_url.endswith(studio_sid)


def test_a_call_that_ended_has_its_live_recording_refreshed_once(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.start_external_recording(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    accept_inbound(h)
    h.call_status(WORKER, "completed")  # no target on that leg: nothing to ask
    assert h.queue.pending == []
    h.call_status(CUSTOMER, "completed")
    assert [j.name for j in h.queue.pending] == ["recording.refresh"]


def test_reconcile_refreshes_live_recordings_of_finished_tasks(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    accept_inbound(h)
    h.tr("task.completed", TASK, inbound_attrs(CUSTOMER), status="completed")
    h.twilio.add_call(CUSTOMER, "completed")  # its status callback never reaches us
    h.clock.advance(600)
    h.service.reconciler.reconcile()
    assert h.target(CUSTOMER).state == "completed"


def test_failed_attribute_writes_are_retried_from_the_queue(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    h.twilio.fail_next("fetch_task", unavailable())
    accept_inbound(h)
    assert h.target(CUSTOMER).state == "recording"
    assert h.media(TASK) == []
    assert [j.name for j in h.queue.pending] == ["recording.link"]
    h.queue.run_all()
    assert_one_voice_recording(h.twilio.tasks[TASK].attributes)
    assert [link.status for link in h.links()] == ["done"]


def test_old_dedup_keys_are_pruned_by_reconcile(h: Harness) -> None:
    from flexrec.db.models import ProcessedEvent

    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    accept_inbound(h)
    with h.sessions() as s:
        assert s.query(ProcessedEvent).count() == 0  # ordinary events need no seen-mark
    mark_seen(h.sessions, "tr:wrapup-after-resume", "taskrouter", h.clock())
    h.clock.advance(3 * 24 * 3600)
    h.service.reconciler.reconcile()
    with h.sessions() as s:
        assert s.query(ProcessedEvent).count() == 0


def test_blips_are_retried_inside_the_webhook_before_the_queue(h: Harness) -> None:
    h.service = h.make_service(RecordingPolicy(), inline_attempts=3)
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    h.twilio.lose_response_next("create_recording")  # created, but the answer timed out
    h.twilio.fail_next("list_recordings", unavailable())
    accept_inbound(h)
    target = h.target(CUSTOMER)
    assert (target.state, target.source, target.attempts) == ("recording", "adopted", 1)
    assert_recorded_exactly_once(h.twilio, CUSTOMER)
    assert h.queue.pending == []
    # The first retry goes at once, the next after a few tens of ms: a start that waits is
    # a call unrecorded (it waited 0.2 s, then 0.4 s).
    assert h.slept == [0.05]


@pytest.mark.parametrize(("error", "lists"), [(rate_limited(), 0), (unavailable(), 1)])
def test_a_create_twilio_refused_unprocessed_is_tried_again_without_listing(
    h: Harness, error: GatewayError, lists: int
) -> None:
    # A 429 is answered before anything is done: the next try creates at once. After a 503
    # the create may have worked, so the next try lists the leg's recordings first.
    h.service = h.make_service(RecordingPolicy(), inline_attempts=3)
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    h.twilio.fail_next("create_recording", error)
    accept_inbound(h)
    assert (h.twilio.count("list_recordings"), h.twilio.count("create_recording")) == (lists, 2)
    assert h.target(CUSTOMER).state == "recording"
    assert_recorded_exactly_once(h.twilio, CUSTOMER)


def test_a_slow_attempt_gives_its_claim_back_instead_of_creating(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flexrec.recording.starter as starter

    ticks = iter([0.0, 45.0, 45.0, 45.0])  # the listing took 45 s of a 60 s claim
    monkeypatch.setattr(starter.time, "monotonic", lambda: next(ticks, 45.0))
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    accept_inbound(h)
    assert h.twilio.count("create_recording") == 0
    target = h.target(CUSTOMER)
    assert target.state == "pending" and target.claim_token is None
    monkeypatch.undo()
    h.clock.advance(600)
    h.queue.run_all()
    assert_recorded_exactly_once(h.twilio, CUSTOMER)


def test_handlers_run_again_after_a_deadlock(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    class Deadlock(Exception):
        sqlstate = "40P01"

    from flexrec.recording import task_events

    original = task_events.upsert_task
    calls = []

    def flaky(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("UPDATE tasks", {}, Deadlock("deadlock detected"))
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(task_events, "upsert_task", flaky)
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    h.tr("reservation.accepted", TASK, inbound_attrs(CUSTOMER), status="assigned",
         reservation=RES, worker=AGENT)  # fmt: skip
    assert len(calls) == 2
    assert_recorded_exactly_once(h.twilio, CUSTOMER)


def test_other_database_errors_are_not_retried(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    from flexrec.recording import task_events

    def broken(*args: object, **kwargs: object) -> object:
        raise OperationalError("SELECT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(task_events, "upsert_task", broken)
    with pytest.raises(OperationalError):
        h.tr("task.created", TASK, inbound_attrs(CUSTOMER), status="pending")


def test_a_started_recording_is_stored_in_two_prepared_statements(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    starter = h.service.starter
    commit = starter._commit_started
    through_sqlalchemy: list[str] = []
    prepared: list[str] = []
    writes: list[float] = []

    def watched(*args: Any, **kwargs: Any) -> bool:
        before = REGISTRY.get_sample_value("flexrec_db_write_transactions_total") or 0.0
        try:
            with statements(h, words=3) as (orm, bare):
                return commit(*args, **kwargs)
        finally:
            through_sqlalchemy.extend(orm)
            prepared.extend(bare)
            after = REGISTRY.get_sample_value("flexrec_db_write_transactions_total") or 0.0
            writes.append(after - before)

    monkeypatch.setattr(starter, "_commit_started", watched)
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    accept_inbound(h)
    # The claim still ours, the row new: the target's UPDATE (its first statement takes the
    # write lock: no BEGIN) and the recording's INSERT, on a bare connection, one transaction.
    assert through_sqlalchemy == []
    assert prepared == ["UPDATE RECORDING_TARGETS SET", "INSERT INTO RECORDINGS"]
    assert writes == [1]
    target = h.target(CUSTOMER)
    assert target.state == "recording" and target.recording_sid is not None
    with h.sessions() as s:
        row = s.get(RecordingRecord, target.recording_sid)
        assert row is not None and row.target_id == target.id
        assert row.create_sent_ms is not None and row.create_answered_ms is not None


def test_settling_a_recording_whose_call_is_over_is_one_prepared_read(h: Harness) -> None:
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    accept_inbound(h)
    target = h.target(CUSTOMER)
    assert target.recording_sid is not None
    h.call_status(CUSTOMER, "completed")  # the call's end came first: nothing to ask Twilio
    h.end_recording(target.recording_sid, "completed")
    with statements(h, words=1) as (through_sqlalchemy, prepared):
        assert h.service.intake.settler.settle(target.id).outcome == "none"
    assert (through_sqlalchemy, prepared) == ([], ["SELECT"])

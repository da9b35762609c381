"""Nothing is final while the call is live: a recording that ends without media is replaced, a
deliberate stop is respected, a pause is never undone, and a link another writer dropped is
written back. Callbacks are shaped as Twilio documents them (RecordingStatus in-progress,
completed, absent with ErrorCode 16101/16102, failed); each test fails on the edge-triggered
service that took the first end as final."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from recording_harness import Harness, inbound_attrs
from sim_twilio import fake_sid
from sqlalchemy import select

from flexrec.db.models import RecordingRecord
from flexrec.recording.context import JOB_SETTLE, JOB_START
from flexrec.recording.pause import Actor
from flexrec.recording.policy import RecordingPolicy
from flexrec.twilio.gateway import GatewayError

TASK = fake_sid("WT", 1)
CUSTOMER = fake_sid("CA", 1)
RES = fake_sid("WR", 1)
AGENT = fake_sid("WK", 1)
AGENT_ACTOR = Actor("agent-01", AGENT, ("agent",))


def accept(h: Harness) -> str:
    """An inbound call answered by an agent; returns the recording flexrec started."""
    h.twilio.add_call(CUSTOMER)
    h.twilio.add_task(TASK, inbound_attrs(CUSTOMER, crm={"id": 7}))
    attrs = inbound_attrs(CUSTOMER, crm={"id": 7})
    h.tr("task.created", TASK, attrs, status="pending")
    h.tr("reservation.accepted", TASK, attrs, status="assigned", reservation=RES, worker=AGENT)
    sid = h.target(CUSTOMER).recording_sid
    assert sid is not None
    return sid


def media_sids(h: Harness) -> list[str]:
    return [str(m["url"]).rsplit("/", 1)[-1] for m in h.media(TASK)]


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def ended_while_live(h: Harness, sid: str) -> bool | None:
    with h.sessions() as session:
        row = session.get(RecordingRecord, sid)
        assert row is not None
        return row.ended_while_live


def test_an_absent_recording_mid_call_is_replaced_at_once_and_its_entry_goes(h: Harness) -> None:
    first = accept(h)
    assert media_sids(h) == [first]
    before = metric("flexrec_recording_replacements_total", outcome="started")
    h.end_recording(first, "absent", ErrorCode="16102")  # silent, not stored
    # Twilio was asked whether the call is live (it is), and a new dual recording started.
    assert h.twilio.count("fetch_call") == 1
    recordings = h.twilio.recordings_on(CUSTOMER)
    assert len(recordings) == 2
    second = recordings[1]
    assert second.request is not None and second.request.channels == "dual"
    target = h.target(CUSTOMER)
    assert (target.state, target.recording_sid, target.replacements) == (
        "recording",
        second.sid,
        1,
    )
    # One entry per recording with media: the absent one's entry was removed, the
    # replacement's has its own start time; the other writer's keys stayed.
    assert media_sids(h) == [second.sid]
    assert h.media(TASK)[0]["start_time"] == second.start_time_ms
    assert h.twilio.tasks[TASK].attributes["crm"] == {"id": 7}
    assert ended_while_live(h, first) is True
    assert metric("flexrec_recording_replacements_total", outcome="started") == before + 1


def test_a_failed_recording_mid_call_is_replaced_too(h: Harness) -> None:
    first = accept(h)
    h.end_recording(first, "failed")
    assert len(h.twilio.recordings_on(CUSTOMER)) == 2
    assert h.target(CUSTOMER).state == "recording"


def test_a_replacement_does_not_wait_out_a_blip_in_asking_whether_the_call_is_live(
    h: Harness,
) -> None:
    h.service = h.make_service(RecordingPolicy(), inline_attempts=4)  # the service's default
    first = accept(h)
    h.twilio.fail_next("fetch_call", GatewayError("Twilio 503", status=503))
    h.end_recording(first, "absent", ErrorCode="16102")
    # Asked again at once (a short pause, not the settle job's backoff): the leg is recorded.
    assert h.twilio.count("fetch_call") == 2
    assert len(h.twilio.recordings_on(CUSTOMER)) == 2
    assert h.target(CUSTOMER).state == "recording"
    assert JOB_SETTLE not in [j.name for j in h.queue.pending]


def test_replacements_are_capped_with_backoff_and_the_cap_is_reported(tmp_path: Path) -> None:
    h = Harness(tmp_path, RecordingPolicy(max_replacements=2))
    try:
        capped = metric("flexrec_recording_replacements_total", outcome="capped")
        sid = accept(h)
        h.end_recording(sid, "absent", ErrorCode="16102")  # replaced at once
        sid = h.twilio.recordings_on(CUSTOMER)[-1].sid
        h.end_recording(sid, "absent", ErrorCode="16102")
        # The second replacement waits a little (a silent leg is not re-recorded in a loop).
        delayed = [j for j in h.queue.pending if j.name == JOB_START]
        assert delayed and 0 < delayed[-1].delay_s <= 10
        assert len(h.twilio.recordings_on(CUSTOMER)) == 2
        h.clock.advance(delayed[-1].delay_s)
        h.queue.run_all()
        assert len(h.twilio.recordings_on(CUSTOMER)) == 3
        sid = h.twilio.recordings_on(CUSTOMER)[-1].sid
        h.end_recording(sid, "absent", ErrorCode="16102")
        h.queue.run_all()
        # The cap: no fourth recording; the leg is reported, not re-recorded for ever.
        assert len(h.twilio.recordings_on(CUSTOMER)) == 3
        target = h.target(CUSTOMER)
        assert (target.state, target.replacements) == ("absent", 2)
        assert target.last_error is not None and "cap" in target.last_error
        assert metric("flexrec_recording_replacements_total", outcome="capped") == capped + 1
        assert media_sids(h) == []  # no entry for a recording without media
    finally:
        h.close()


def test_a_completed_recording_mid_call_is_a_deliberate_stop_and_is_not_undone(
    h: Harness,
) -> None:
    sid = accept(h)
    stops = metric("flexrec_recordings_stopped_by_others_total")
    # An older payment integration stops the recording through the API; the call goes on.
    h.end_recording(sid, "completed")
    assert [j.name for j in h.queue.pending] == [JOB_SETTLE]  # settled a few seconds later
    h.queue.run_all()
    target = h.target(CUSTOMER)
    assert target.state == "stopped"
    assert h.twilio.count("create_recording") == 1  # respected like a pause: not restarted
    assert ended_while_live(h, sid) is True
    assert metric("flexrec_recordings_stopped_by_others_total") == stops + 1
    assert media_sids(h) == [sid]  # the part that was recorded stays linked
    # Later events of the live call change nothing.
    h.tr("task.updated", TASK, inbound_attrs(CUSTOMER), status="assigned")
    h.service.reconciler.reconcile()
    h.queue.run_all()
    assert h.twilio.count("create_recording") == 1
    assert h.target(CUSTOMER).state == "stopped"


def test_a_recording_that_completed_because_the_call_ended_is_never_restarted(
    h: Harness,
) -> None:
    sid = accept(h)
    h.twilio.add_call(CUSTOMER, "completed")
    h.call_status(CUSTOMER, "completed")
    h.end_recording(sid, "completed")
    h.queue.run_all()
    target = h.target(CUSTOMER)
    assert (target.state, target.call_ended_at is not None) == ("completed", True)
    # The call's own status callback said it ended: Twilio was not even asked.
    assert h.twilio.count("fetch_call") == 0
    assert h.twilio.count("create_recording") == 1


def test_a_completed_callback_before_the_call_status_is_not_taken_for_a_stop(
    h: Harness,
) -> None:
    sid = accept(h)
    h.twilio.add_call(CUSTOMER, "completed")
    h.end_recording(sid, "completed")  # Twilio posts the recording's end first
    h.call_status(CUSTOMER, "completed")  # and the call's just after
    h.queue.run_all()
    assert h.target(CUSTOMER).state == "completed"
    assert h.twilio.count("fetch_call") == 0
    assert ended_while_live(h, sid) is None or ended_while_live(h, sid) is False


def test_a_pause_is_never_undone_by_a_replacement(h: Harness) -> None:
    sid = accept(h)
    h.service.pauses.pause(TASK, AGENT_ACTOR)
    assert h.target(CUSTOMER).state == "paused"
    # The paused recording ends without media while the customer reads a card number.
    h.end_recording(sid, "absent", ErrorCode="16102")
    h.queue.run_all()
    assert h.twilio.count("create_recording") == 1  # nothing records during the pause
    state = h.service.pauses.state(TASK, AGENT_ACTOR)
    assert state.pause_pending
    # The agent resumes: now the leg is recorded again.
    h.service.pauses.resume(TASK, AGENT_ACTOR)
    h.queue.run_all()
    recordings = h.twilio.recordings_on(CUSTOMER)
    assert len(recordings) == 2
    assert h.target(CUSTOMER).state == "recording"
    assert recordings[1].history == []  # started and never paused: the pause was over


def test_a_resume_that_meets_the_paused_recording_already_gone_frees_its_replacement(
    h: Harness,
) -> None:
    # The paused recording fails; the agent resumes before its callback is handled, and Twilio
    # answers 21220. The call is live: the resume must stand, so the end replaces at once
    # (answered 'ended', it left the replacement held for a pause nobody wanted: the faults
    # demo lost the rest of a call this way).
    sid = accept(h)
    h.service.pauses.pause(TASK, AGENT_ACTOR)
    h.twilio.recordings[sid].status = "failed"  # its callback is still on its way
    state = h.service.pauses.resume(TASK, AGENT_ACTOR)
    assert state.state == "recording" and not state.pause_pending
    h.recording_status(sid, CUSTOMER, "failed", RecordingDuration="0")
    h.queue.run_all()
    recordings = h.twilio.recordings_on(CUSTOMER)
    assert len(recordings) == 2
    assert h.target(CUSTOMER).state == "recording"
    assert recordings[1].history == []  # started unpaused: the agent had resumed


def test_a_pause_that_meets_the_recording_already_gone_holds_its_replacement(
    h: Harness,
) -> None:
    sid = accept(h)
    h.twilio.recordings[sid].status = "absent"  # ended silent; its callback is on its way
    assert h.service.pauses.pause(TASK, AGENT_ACTOR).state == "paused"
    h.recording_status(sid, CUSTOMER, "absent", RecordingDuration="0", ErrorCode="16102")
    h.queue.run_all()
    assert h.twilio.count("create_recording") == 1  # nothing records during the pause
    assert h.service.pauses.state(TASK, AGENT_ACTOR).pause_pending
    h.service.pauses.resume(TASK, AGENT_ACTOR)
    h.queue.run_all()
    assert len(h.twilio.recordings_on(CUSTOMER)) == 2
    assert h.target(CUSTOMER).state == "recording"


def test_a_resume_while_the_failed_recording_awaits_its_replacement_starts_it(h: Harness) -> None:
    sid = accept(h)
    h.service.pauses.pause(TASK, AGENT_ACTOR)
    h.twilio.fail_next("fetch_call", *(GatewayError("Twilio 503", status=503) for _ in range(4)))
    h.end_recording(sid, "failed")  # handled; the settle could not ask Twilio yet
    assert h.target(CUSTOMER).state == "failed"
    h.service.pauses.resume(TASK, AGENT_ACTOR)  # while the replacement waits to be decided
    h.queue.run_all()
    recordings = h.twilio.recordings_on(CUSTOMER)
    assert len(recordings) == 2 and recordings[1].history == []
    assert h.target(CUSTOMER).state == "recording"


def test_a_pause_made_outside_flexrec_is_never_undone(h: Harness) -> None:
    sid = accept(h)
    # Another tool pauses the recording through Twilio's API: no callback reaches flexrec.
    h.twilio.recordings[sid].status = "paused"
    h.tr("task.updated", TASK, inbound_attrs(CUSTOMER), status="assigned")
    h.service.reconciler.reconcile()
    h.queue.run_all()
    assert h.twilio.count("create_recording") == 1
    assert h.twilio.count("update_recording") == 0
    assert h.twilio.recordings[sid].status == "paused"


def clobber(h: Harness) -> dict[str, Any]:
    """Another integration writes the task's attributes from a stale copy, without If-Match:
    its own key is added, flexrec's VoiceRecording entry is gone."""
    stale = {**inbound_attrs(CUSTOMER, crm={"id": 7}), "disposition": "sale"}
    h.twilio.set_attributes(TASK, stale)
    return stale


def test_a_link_another_writer_dropped_is_written_back_keeping_their_keys(h: Harness) -> None:
    sid = accept(h)
    stale = clobber(h)
    writes = h.twilio.count("update_task_attributes")
    repaired = metric("flexrec_links_repaired_total", seen_in="webhook")
    h.tr("task.updated", TASK, stale, status="assigned")  # TaskRouter reports the write
    assert media_sids(h) == [sid]
    attributes = h.twilio.tasks[TASK].attributes
    assert attributes["disposition"] == "sale" and attributes["crm"] == {"id": 7}
    assert h.twilio.count("update_task_attributes") == writes + 1
    update = [args for op, args in h.twilio.requests if op == "update_task_attributes"][-1]
    assert update[1] is not None  # an If-Match write, merged over the other writer's
    assert metric("flexrec_links_repaired_total", seen_in="webhook") == repaired + 1


def test_an_event_older_than_our_link_write_is_not_taken_for_a_lost_link(h: Harness) -> None:
    accept(h)
    writes = h.twilio.count("update_task_attributes")
    # A reordered delivery from before the link was written: its attributes lack the entry.
    old_ms = h.clock.ms() - 10_000
    h.tr("task.updated", TASK, inbound_attrs(CUSTOMER), ts_ms=old_ms, status="assigned")
    assert h.twilio.count("update_task_attributes") == writes
    assert h.twilio.count("fetch_task") == writes  # not even read again


def test_a_link_dropped_while_the_service_was_down_is_restored_by_reconcile(
    h: Harness,
) -> None:
    sid = accept(h)
    clobber(h)  # no webhook reaches the service: it is down
    restarted = h.make_service(RecordingPolicy())
    h.service = restarted
    h.twilio.tasks[TASK].assignment_status = "assigned"
    restarted.reconciler.reconcile()
    h.queue.run_all()
    assert media_sids(h) == [sid]
    assert h.twilio.tasks[TASK].attributes["disposition"] == "sale"
    # A second reconcile soon after asks nothing more of TaskRouter for this task.
    fetches = h.twilio.count("fetch_task")
    restarted.reconciler.reconcile()
    assert h.twilio.count("fetch_task") == fetches


def test_other_writers_voice_recordings_stay_after_ours(h: Harness) -> None:
    sid = accept(h)
    theirs = {"type": "VoiceRecording", "url": "https://crm.example/rec/1", "start_time": 1}
    attrs = dict(h.twilio.tasks[TASK].attributes)
    attrs["conversations"] = {"media": [theirs, *attrs["conversations"]["media"]]}
    h.twilio.set_attributes(TASK, attrs)
    h.tr("task.updated", TASK, attrs, status="assigned")
    media = h.media(TASK)
    assert media[0]["url"].endswith(sid)  # Insights plays the first: ours
    assert theirs in media


def test_every_recording_of_the_leg_is_stored_with_its_target(h: Harness) -> None:
    first = accept(h)
    h.end_recording(first, "absent", ErrorCode="16101")
    with h.sessions() as session:
        rows = session.scalars(select(RecordingRecord).order_by(RecordingRecord.created_at))
        assert [(r.status, r.target_id) for r in rows] == [
            ("absent", h.target(CUSTOMER).id),
            ("in-progress", h.target(CUSTOMER).id),
        ]


@pytest.mark.parametrize("task_status", ["wrapping", "completed"])
def test_a_recording_that_ended_while_the_service_was_down_is_settled_by_reconcile(
    h: Harness, task_status: str
) -> None:
    sid = accept(h)
    # The service is down: the call ends, its recording completes and the agent wraps up (or
    # completes the task); none of the callbacks or TaskRouter events reach flexrec.
    h.twilio.recordings[sid].status = "completed"
    h.twilio.add_call(CUSTOMER, "completed")
    h.twilio.tasks[TASK].assignment_status = task_status
    restarted = h.make_service(RecordingPolicy())
    h.service = restarted
    h.clock.advance(300)
    restarted.reconciler.reconcile()
    h.queue.run_all()
    # Twilio was asked how the recording ended: it is settled as completed, not left
    # 'recording' for ever (nothing would archive it).
    assert h.target(CUSTOMER).state == "completed"
    with h.sessions() as session:
        row = session.get(RecordingRecord, sid)
        assert row is not None and row.status == "completed"
    assert h.twilio.count("create_recording") == 1


def test_a_recording_that_failed_while_the_service_was_down_is_replaced_at_restart(
    h: Harness,
) -> None:
    # kill -9 a few seconds after the recording started; while the service is down Twilio ends
    # the recording failed (16105) and its callback finds nobody. The call goes on. The new
    # process must look at the recordings it has heard nothing of at once: waiting out the
    # quiet period (2 minutes) left a soak's call talking 92 s simulated more unrecorded.
    first = accept(h)
    h.twilio.recordings[first].status = "failed"
    h.clock.advance(10)  # the restart
    restarted = h.make_service(RecordingPolicy())
    h.service = restarted
    restarted.reconciler.reconcile()
    h.queue.run_all()
    recordings = h.twilio.recordings_on(CUSTOMER)
    assert len(recordings) == 2 and recordings[0].sid == first
    assert h.target(CUSTOMER).recording_sid == recordings[1].sid
    # Heard of now: the next run does not ask again.
    lists = h.twilio.count("list_recordings")
    h.clock.advance(60)
    restarted.reconciler.reconcile()
    h.queue.run_all()
    assert h.twilio.count("list_recordings") == lists


def test_a_live_call_whose_task_events_stopped_is_not_asked_about_every_minute(
    h: Harness,
) -> None:
    accept(h)
    # A long call, still live at Twilio: reconcile looks at its recording at most once per
    # quiet period, not on every run.
    h.clock.advance(300)
    h.service.reconciler.reconcile()
    h.queue.run_all()
    lists = h.twilio.count("list_recordings")
    h.clock.advance(60)
    h.service.reconciler.reconcile()
    h.queue.run_all()
    assert h.twilio.count("list_recordings") == lists
    assert h.target(CUSTOMER).state == "recording"


def test_an_erased_recording_is_never_linked_again(h: Harness) -> None:
    from flexrec.archive.models import ErasedRecording

    sid = accept(h)
    # A data subject's erasure: the recording is listed as erased and its entry removed from
    # the task (flexrec.custody.erasure); then TaskRouter reports the task's new attributes.
    with h.sessions() as session:
        session.add(ErasedRecording(recording_sid=sid, call_sid=CUSTOMER, task_sids=[TASK],
                                    request_id="req-1", erased_at=h.clock()))  # fmt: skip
        session.commit()
    scrubbed = inbound_attrs(CUSTOMER, crm={"id": 7})
    h.twilio.set_attributes(TASK, scrubbed)
    writes = h.twilio.count("update_task_attributes")
    h.tr("task.updated", TASK, scrubbed, status="assigned")
    h.service.reconciler.reconcile()
    h.queue.run_all()
    # The link repair does not undo the erasure.
    assert media_sids(h) == []
    assert h.twilio.count("update_task_attributes") == writes

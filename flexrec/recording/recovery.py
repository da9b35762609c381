"""Asking Twilio what webhooks did not tell: how a quiet recording ended, what a task is now.

- `refresh_target`: how did a live recording end? For recordings whose status callbacks do not
  come to us (Studio's) or got lost. It returns the status it learnt; the caller applies it as
  if Twilio had posted it (flexrec.recording.reconcile).
- `catch_up_task`: re-read a task and its reservations from TaskRouter (lost TaskRouter events).

The safety net that runs these for every target and task that needs them is
flexrec.recording.reconcile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy import bindparam, select

from flexrec.db.models import RecordingTarget, ReservationRecord
from flexrec.db.prepared import Prepared, one_of
from flexrec.recording import transitions
from flexrec.recording.context import JOB_REFRESH, ServiceContext
from flexrec.recording.planner import Plan, Planner, Seen
from flexrec.recording.rows import TaskFields, merge_reservation_info, upsert_task
from flexrec.recording.states import LIVE_STATES, RECORDING_OUTCOMES
from flexrec.recording.store import Executor, insert_ignore, write_session
from flexrec.twilio.gateway import GatewayError, TaskSnapshot
from flexrec.webhooks.events import RecordingStatusEvent

log = structlog.get_logger(__name__)

REFRESH_DELAY_S = 30.0
REFRESH_ATTEMPTS = 10


_LIVE_TARGETS = Prepared(
    select(RecordingTarget.id).where(
        RecordingTarget.call_sid == bindparam("call"), one_of(RecordingTarget.state, LIVE_STATES)
    )
)


def live_target_ids(executor: Executor, call_sid: str) -> Sequence[int]:
    """Targets on the leg whose recording may still be running (to ask Twilio later): every
    leg's end and every agent's leave asks (a prepared statement)."""
    return [row.id for row in _LIVE_TARGETS.execute(executor, {"call": call_sid})]


@dataclass(frozen=True)
class Refreshed:
    """What asking Twilio about a live recording found: the target's state, and the status
    callback Twilio would have posted for an end we had not heard of (to apply)."""

    state: str
    ended: RecordingStatusEvent | None = None


class Recovery:
    """Asks Twilio what webhooks did not tell: recordings' ends, tasks' current state."""

    def __init__(self, ctx: ServiceContext, planner: Planner) -> None:
        self.ctx = ctx
        self.planner = planner

    # -- recordings ---------------------------------------------------------------------------
    def refresh_target(self, target_id: int, attempt: int = 1) -> Refreshed:
        """Ask Twilio how a live recording ended, for recordings whose status callbacks do not
        come to us (Studio's) or got lost; an end found is returned for the caller to apply."""
        with self.ctx.sessions() as session:
            target = session.get(RecordingTarget, target_id)
            if target is None or target.state not in LIVE_STATES or not target.recording_sid:
                return Refreshed(target.state if target is not None else "missing")
            call_sid, recording_sid = target.call_sid, target.recording_sid
        try:
            infos = self.ctx.recordings.list_recordings(call_sid)
        except GatewayError as exc:
            log.info("recording refresh failed", call_sid=call_sid, error=str(exc))
            infos = []
        info = next((i for i in infos if i.sid == recording_sid), None)
        if info is not None and info.status in RECORDING_OUTCOMES:
            ended = RecordingStatusEvent(
                recording_sid=info.sid,
                call_sid=info.call_sid,
                status=info.status,
                url=None,
                channels=info.channels,
                start_time_ms=info.start_time_ms,
                duration_s=info.duration_s,
                error_code=info.error_code,
                track=info.track,
                source=info.source,
            )
            return Refreshed(RECORDING_OUTCOMES[info.status], ended)
        with write_session(self.ctx.sessions) as session:
            # Touched, so reconcile() looks at this one again only after a quiet period.
            transitions.touch(session, target_id, self.ctx.now())
        if attempt < REFRESH_ATTEMPTS:  # still in progress or processing: look again later
            self.ctx.schedule(JOB_REFRESH, target_id, attempt + 1, delay_s=REFRESH_DELAY_S)
        return Refreshed("recording")

    def schedule_refresh(self, target_ids: Sequence[int]) -> None:
        """Ask Twilio about these live recordings a little later (their leg ended)."""
        for target_id in target_ids:
            self.ctx.schedule(JOB_REFRESH, target_id, 1, delay_s=REFRESH_DELAY_S)

    # -- tasks --------------------------------------------------------------------------------
    def catch_up_task(self, task_sid: str) -> None:
        """Re-read a task and its reservations from TaskRouter and act on them (lost webhooks)."""
        self._sync_reservations(task_sid)
        self.planner.execute(self.refresh_task(task_sid))

    def refresh_task(self, task_sid: str) -> Plan:
        """Fetch the task from TaskRouter and plan it; an empty plan if TaskRouter fails."""
        try:
            snapshot = self.ctx.tasks.fetch_task(task_sid)
        except GatewayError as exc:
            log.warning("task fetch failed", task_sid=task_sid, error=str(exc))
            return Plan()
        return self.apply_snapshot(snapshot)

    def _sync_reservations(self, task_sid: str) -> None:
        try:
            infos = self.ctx.tasks.list_reservations(task_sid)
        except GatewayError as exc:
            log.warning("reservation list failed", task_sid=task_sid, error=str(exc))
            return
        now = self.ctx.now()
        now_ms = int(now.timestamp() * 1000)
        with write_session(self.ctx.sessions) as session:
            for info in infos:
                insert_ignore(
                    session,
                    ReservationRecord,
                    {
                        "sid": info.sid,
                        "task_sid": task_sid,
                        "worker_sid": info.worker_sid,
                        "worker_name": info.worker_name,
                        "status": info.status,
                        "updated_at": now,
                    },
                    ["sid"],
                )
                row = session.get(ReservationRecord, info.sid)
                if row is not None:  # inserted above unless it existed
                    merge_reservation_info(row, info, now, now_ms)
        self.ctx.memos.forget(task_sid)

    def apply_snapshot(self, snapshot: TaskSnapshot, *, claim: bool = True) -> Plan:
        """Store what TaskRouter says a task is now and plan it (in one write transaction)."""
        now = self.ctx.now()
        # A view without attributes (a list) is partial: it must not count as newer than an
        # event whose attributes we have not applied yet, or that event would be dropped as
        # stale. A fetch is the whole current task.
        event_ms = int(now.timestamp() * 1000) if snapshot.attributes is not None else 0
        fields = TaskFields(
            attributes=snapshot.attributes,
            status=snapshot.assignment_status,
            queue_sid=snapshot.queue_sid,
            queue_name=snapshot.queue_name,
            workflow_sid=snapshot.workflow_sid,
            workflow_name=snapshot.workflow_name,
            channel=snapshot.channel,
        )
        seen = (
            Seen(snapshot.attributes, event_ms, "fetch")
            if snapshot.attributes is not None
            else None
        )
        with write_session(self.ctx.sessions) as session:
            task = upsert_task(session, snapshot.sid, fields, now=now, event_ms=event_ms)
            plan = self.planner.plan(session, task, now, None, claim=claim, seen=seen)
        self.ctx.memos.forget(snapshot.sid)
        return plan

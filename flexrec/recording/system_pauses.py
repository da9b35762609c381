"""The pause changes the service makes on its own, with no agent asking at that moment.

- `apply_pending_pause`: a pause an agent asked for before the recording existed, applied once
  it runs (the start's caller asks for it, flexrec.recording.planner; so do reconcile and a
  status callback that identified the recording).
- `auto_resume`: the work on the task ended (wrap-up, completion) with its recording still
  paused: it is resumed, and a pause never applied is dropped. A transfer's first agent
  wrapping up never undoes the next agent's pause.
"""

from __future__ import annotations

import structlog
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from flexrec.db.models import AttributeWrite, PauseEvent, RecordingTarget, ReservationRecord
from flexrec.db.prepared import Prepared
from flexrec.recording import transitions
from flexrec.recording.context import (
    JOB_APPLY_PAUSE,
    JOB_AUTO_RESUME,
    JOB_START,
    Jobs,
    ServiceContext,
)
from flexrec.recording.pause_result import SYSTEM_ACTOR, Sent, audit, finish, note_sent
from flexrec.recording.settle import fetch_call
from flexrec.recording.states import LIVE_STATES
from flexrec.recording.store import Executor, write_session
from flexrec.twilio.gateway import CALL_NOT_RECORDABLE, GatewayError

log = structlog.get_logger(__name__)
# Built once: building the join per wrap-up event cost more than running it.
_WRAPUP_WORK = Prepared(
    select(RecordingTarget.id)
    .join(AttributeWrite, AttributeWrite.target_id == RecordingTarget.id)
    .where(AttributeWrite.task_sid == bindparam("task"))
    .where((RecordingTarget.state == "paused") | RecordingTarget.desired_state.is_not(None))
    .limit(1)
)


class SystemPauses:
    """Applies kept pauses once their recording runs, and resumes what the end of work left
    paused (queue jobs and follow-ups of events)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @staticmethod
    def has_work_at_wrapup(executor: Executor, task_sid: str) -> bool:
        """True when a recording of the task is paused or has a pause or resume still wished
        for: only then has `auto_resume` anything to do (one read, on a session or a bare
        connection: every wrap-up and completion of every call asks)."""
        return _WRAPUP_WORK.execute(executor, {"task": task_sid}).first() is not None

    def auto_resume(self, task_sid: str, worker_sid: str | None = None) -> int:
        """Resume the task's paused recordings (for a reservation event: those its worker
        paused, or its own worker leg). Returns how many were resumed."""
        with self.ctx.sessions() as session:
            targets = self._paused_targets(session, task_sid, worker_sid)
            wishing = session.scalars(
                select(RecordingTarget.id)
                .join(AttributeWrite, AttributeWrite.target_id == RecordingTarget.id)
                .where(AttributeWrite.task_sid == task_sid)
                .where(RecordingTarget.desired_state.is_not(None))
            ).all()
        for target_id in wishing:  # the work is over: a pause never applied is dropped
            self._clear_desire(target_id, worker_sid)
            # A replacement held for that pause may start now, not at the next reconcile (the
            # claim refuses anything else: a start not due, or one still wished paused).
            self.ctx.schedule(JOB_START, target_id)
        resumed = 0
        for target_id, call_sid, recording_sid in targets:
            sent = note_sent(self.ctx, recording_sid)
            try:
                self.ctx.recordings.update_recording(call_sid, recording_sid, "in-progress")
            except GatewayError as exc:
                if exc.code == CALL_NOT_RECORDABLE and not self._call_over(call_sid):
                    # The recording ended under the live call (a transfer's customer is still
                    # on the line): the work is over, so its replacement must not wait for a
                    # resume, whichever of its status callback and this lands first.
                    finish(self.ctx, target_id, task_sid, SYSTEM_ACTOR, None, "resume", "recording")
                    self._clear_desire(target_id)
                    self.ctx.schedule(JOB_START, target_id)
                    continue
                if exc.code == CALL_NOT_RECORDABLE:
                    finish(self.ctx, target_id, task_sid, SYSTEM_ACTOR, None, "resume", "ended")
                    continue
                audit(self.ctx, task_sid, recording_sid, SYSTEM_ACTOR, None, "resume", "error", exc)
                if exc.retryable:
                    self.ctx.schedule(
                        JOB_AUTO_RESUME, task_sid, worker_sid, delay_s=self.ctx.backoff_s(2)
                    )
                continue
            answered = self.ctx.now()
            finish(
                self.ctx,
                target_id,
                task_sid,
                SYSTEM_ACTOR,
                None,
                "resume",
                "recording",
                sent,
                answered,
            )
            resumed += 1
            log.info("recording auto-resumed", task_sid=task_sid, recording_sid=recording_sid)
        return resumed

    def apply_pending_pause(self, target_id: int) -> str:
        """Apply a pause asked for before the recording existed; returns what happened."""
        ctx = self.ctx
        with ctx.sessions() as session:
            target = session.get(RecordingTarget, target_id)
            if target is None or target.desired_state != "paused":
                return "none"
            if target.state not in LIVE_STATES or target.recording_sid is None:
                return "waiting"
            call_sid, recording_sid = target.call_sid, target.recording_sid
            task_sid, actor = target.task_sid, target.desired_by or SYSTEM_ACTOR
            worker_sid, state = target.desired_worker_sid, target.state
        sent: Sent | None = None
        if state != "paused":
            sent = note_sent(ctx, recording_sid)
            try:
                ctx.recordings.update_recording(
                    call_sid, recording_sid, "paused", ctx.policy.pause_behavior
                )
            except GatewayError as exc:
                if exc.code == CALL_NOT_RECORDABLE and not self._call_over(call_sid):
                    # 21220 also means the recording ended under the live call (absent,
                    # failed; its status callback is on its way): the pause stands, so that
                    # end holds the replacement for the agent's resume.
                    self._pause_stands(target_id, task_sid, actor, worker_sid, recording_sid)
                    return "paused"
                if exc.code == CALL_NOT_RECORDABLE:
                    self._clear_desire(target_id)
                    finish(ctx, target_id, task_sid, actor, worker_sid, "pause", "ended")
                    return "ended"
                audit(ctx, task_sid, recording_sid, actor, worker_sid, "pause", "error", exc)
                if exc.retryable:
                    ctx.schedule(JOB_APPLY_PAUSE, target_id, delay_s=ctx.backoff_s(1))
                    return "retry"
                self._clear_desire(target_id)
                return "failed"
        answered = ctx.now() if sent is not None else None
        self._clear_desire(target_id)
        finish(ctx, target_id, task_sid, actor, worker_sid, "pause", "paused", sent, answered)
        log.info("deferred pause applied", task_sid=task_sid, recording_sid=recording_sid)
        return "paused"

    def _call_over(self, call_sid: str) -> bool:
        """True only when Twilio says the call ended (a blip that outlives the inline tries
        is no answer: the recording's own status callback settles it later)."""
        try:
            return fetch_call(self.ctx, call_sid).ended
        except GatewayError:
            return False

    def _pause_stands(
        self,
        target_id: int,
        task_sid: str,
        actor: str,
        worker_sid: str | None,
        recording_sid: str,
    ) -> None:
        """Mark the target paused (no-op once its recording's end is stored), then drop the
        wish only while it is: if the end came first, its kept wish holds the replacement."""
        finish(self.ctx, target_id, task_sid, actor, worker_sid, "pause", "paused")
        with write_session(self.ctx.sessions) as session:
            transitions.clear_wish(session, target_id, while_state="paused")
        log.info(
            "deferred pause met an ended recording; the pause holds its replacement",
            task_sid=task_sid, recording_sid=recording_sid,
        )  # fmt: skip

    def _clear_desire(self, target_id: int, worker_sid: str | None = None) -> None:
        with write_session(self.ctx.sessions) as session:
            transitions.clear_wish(session, target_id, worker_sid)

    def _paused_targets(
        self, session: Session, task_sid: str, worker_sid: str | None
    ) -> list[tuple[int, str, str]]:
        rows = session.execute(
            select(RecordingTarget, ReservationRecord.worker_sid)
            .join(AttributeWrite, AttributeWrite.target_id == RecordingTarget.id)
            .outerjoin(ReservationRecord, ReservationRecord.sid == RecordingTarget.reservation_sid)
            .where(AttributeWrite.task_sid == task_sid, RecordingTarget.state == "paused")
        ).all()
        out: list[tuple[int, str, str]] = []
        for target, leg_worker in rows:
            if target.recording_sid is None:
                continue
            if worker_sid is not None and leg_worker != worker_sid:
                last_pause = session.scalars(
                    select(PauseEvent)
                    .where(PauseEvent.recording_sid == target.recording_sid)
                    .where(PauseEvent.action == "pause", PauseEvent.result == "paused")
                    .order_by(PauseEvent.id.desc())
                ).first()
                # A transfer's first agent wrapping up must not undo the next agent's pause.
                if last_pause is None or last_pause.worker_sid != worker_sid:
                    continue
            out.append((target.id, target.call_sid, target.recording_sid))
        return out

    def jobs(self) -> Jobs:
        """This room's queue jobs by name (their arguments are row ids and SIDs)."""
        return {
            JOB_AUTO_RESUME: lambda task_sid, worker_sid=None: self.auto_resume(
                str(task_sid), worker_sid
            ),
            JOB_APPLY_PAUSE: lambda target_id: self.apply_pending_pause(int(target_id)),
        }

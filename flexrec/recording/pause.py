"""Pause and resume a task's recording on an agent's request, with authorization and audit.

Who may act: the worker holding an accepted (not yet wrapped/completed) reservation on the
task, or anyone with the `supervisor` or `admin` role. Each request is audited in
`pause_events` (flexrec.recording.pause_result). Repeating a request returns the current
state. A call that ended meanwhile (Twilio 21220) is reported as state `ended`, not as an
error. A pause asked for before the recording exists is kept and applied once it runs
(flexrec.recording.system_pauses), as is the auto-resume when the work ends.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from flexrec.db.models import (
    AttributeWrite,
    PauseEvent,
    RecordingTarget,
    ReservationRecord,
    TaskRecord,
)
from flexrec.recording import transitions
from flexrec.recording.catch_up import CatchUpLimiter
from flexrec.recording.context import JOB_START, ServiceContext
from flexrec.recording.errors import Forbidden, InvalidState, NotFound, Unavailable
from flexrec.recording.pause_result import (
    SUPERVISOR_ROLES,
    Actor,
    RecordingState,
    audit,
    described,
    finish,
    note_sent,
    state_of,
)
from flexrec.recording.policy import RECORDED
from flexrec.recording.recovery import Recovery
from flexrec.recording.states import ENDED_STATES, LIVE_STATES, NO_MEDIA_STATES, UNFINISHED_STATES
from flexrec.recording.store import write_session
from flexrec.recording.watch import state_fingerprint
from flexrec.twilio.gateway import CALL_NOT_RECORDABLE, GatewayError

__all__ = ["SUPERVISOR_ROLES", "Actor", "PauseController", "RecordingState"]

log = structlog.get_logger(__name__)

_INLINE_ATTEMPTS = 3
# Reservation statuses that let a worker act on (pause/resume) or only look at a task.
_ACTING_STATUSES = ("accepted",)
_LOOKING_STATUSES = ("accepted", "wrapping", "completed")
_TASK_OVER = ("wrapping", "completed", "canceled")


class _NoTarget(NotFound):
    """The task is known but nothing records it (yet, or by policy)."""


class PauseController:
    """Pause/resume/state for the agent API."""

    def __init__(self, ctx: ServiceContext, recovery: Recovery) -> None:
        self.ctx = ctx
        # Re-reads a task and its reservations from TaskRouter, for when the webhooks that
        # would have told us were lost or have not arrived yet.
        self.recovery = recovery
        self.catch_up_limiter = CatchUpLimiter()

    def pause(self, task_sid: str, actor: Actor) -> RecordingState:
        """Pause the task's recording (PauseBehavior from the policy); before any recording
        exists, the pause is kept and the recording starts paused."""
        return self._act(task_sid, actor, "pause")

    def resume(self, task_sid: str, actor: Actor) -> RecordingState:
        """Resume the task's recording (or drop a pause kept for one not started)."""
        return self._act(task_sid, actor, "resume")

    def _act(self, task_sid: str, actor: Actor, action: str) -> RecordingState:
        try:
            return self._change(task_sid, actor, action)
        except _NoTarget:
            state = self._wish_on_task(task_sid, actor, action)
        # A leg found meanwhile may have missed the wish (its target was created before the
        # wish was written): act on it now that it exists.
        try:
            return self._change(task_sid, actor, action)
        except _NoTarget:
            return state

    def _wish_on_task(self, task_sid: str, actor: Actor, action: str) -> RecordingState:
        """No leg is known yet: keep the agent's pause (or its withdrawal) on the task."""
        now = self.ctx.now()
        with write_session(self.ctx.sessions) as session:
            # The task row locked (PostgreSQL; SQLite's write lock already serialises): a planner
            # creating a target for the task holds it from reading the task's pause wish to its
            # commit, so the wish waits for the new target, which the second look then finds.
            task = session.get(TaskRecord, task_sid, with_for_update=True)
            decided = task.policy_decision if task is not None else None
            if task is None or (decided is not None and decided != RECORDED):
                raise NotFound(f"task {task_sid} has no recording")
            if task.status in _TASK_OVER:
                raise InvalidState("the call is over: there is nothing to pause")
            session.add(_kept_wish(task_sid, actor, action, now))
        log.info("pause kept until the recording starts" if action == "pause"
                 else "kept pause withdrawn", task_sid=task_sid)  # fmt: skip
        paused = action == "pause"
        return RecordingState(
            task_sid=task_sid,
            state="waiting",
            pause_pending=paused,
            paused_by=actor.identity if paused else None,
            paused_at=now if paused else None,
            may_act=True,
        )

    def state(self, task_sid: str, actor: Actor, *, catch_up: bool = True) -> RecordingState:
        """The recording state; readable by any worker who had the task, and supervisors.

        A known task without a recording is `waiting` or `not_recorded` (with the policy's
        reason), not an error. `catch_up=False` never asks TaskRouter (for repeated polls)."""
        try:
            return self._lookup(task_sid, actor, acting=False, catch_up=catch_up)[1]
        except _NoTarget:
            with self.ctx.sessions() as session:
                return self._without_target(session, task_sid, actor)

    def state_fingerprint(self, task_sid: str, actor: Actor) -> tuple[Any, ...]:
        """A cheap summary of what `state` depends on: unchanged fingerprint, unchanged state
        (the long poll's per-second check; no authorisation, `state` does that)."""
        with self.ctx.sessions() as session:
            return state_fingerprint(session, task_sid, actor.worker_sid)

    def _lookup(
        self, task_sid: str, actor: Actor, *, acting: bool, catch_up: bool = True
    ) -> tuple[int, RecordingState]:
        """Authorize and find the target; on a miss, catch up from TaskRouter once and retry."""
        for attempt in (1, 2):
            try:
                with self.ctx.sessions() as session:
                    self._authorize(session, task_sid, actor, acting=acting)
                    target = self._target(session, task_sid, actor)
                    may_act = acting or self._may_act(session, task_sid, actor)
                    return target.id, described(session, task_sid, target, may_act)
            except (NotFound, Forbidden):
                if attempt == 2 or not catch_up:
                    raise
                # Re-reading costs two TaskRouter calls: not on every refused request.
                if not self.catch_up_limiter.allow(task_sid, actor.worker_sid or actor.identity):
                    raise
            self.recovery.catch_up_task(task_sid)
        raise NotFound(task_sid)  # pragma: no cover - the loop returns or raises

    def _without_target(self, session: Session, task_sid: str, actor: Actor) -> RecordingState:
        self._authorize(session, task_sid, actor, acting=False)
        task = session.get(TaskRecord, task_sid)
        decision = task.policy_decision if task is not None else None
        if decision is not None and decision != RECORDED:
            return RecordingState(task_sid=task_sid, state="not_recorded", detail=decision)
        if task is not None and task.status in _TASK_OVER:
            return RecordingState(task_sid=task_sid, state="ended", detail="nothing was recorded")
        may_act = self._may_act(session, task_sid, actor)
        wish = transitions.task_pause_wish(session, task_sid)
        return RecordingState(
            task_sid=task_sid,
            state="waiting",
            may_act=may_act,
            pause_pending=wish is not None,
            paused_by=wish.actor if wish is not None else None,
        )

    # -- internals ----------------------------------------------------------------------------
    def _defer(
        self,
        target_id: int,
        task_sid: str,
        actor: Actor,
        action: str,
        *,
        awaiting_replacement: bool = False,
    ) -> RecordingState | None:
        """Remember (or forget) a pause while the recording is still being started, or
        (`awaiting_replacement`) while one that ended without media waits to be replaced."""
        now = self.ctx.now()
        wish = transitions.wish_replacement if awaiting_replacement else transitions.wish_pause
        with write_session(self.ctx.sessions) as session:
            wished = wish(
                session,
                target_id,
                paused=action == "pause",
                actor=actor.identity,
                worker_sid=actor.worker_sid,
                now=now,
            )
            if not wished:
                return None
            target = session.get(RecordingTarget, target_id)
            if target is None:  # pragma: no cover - targets are never deleted
                return None
            session.refresh(target)
            state = replace(state_of(task_sid, target), may_act=True)
            session.add(_kept_wish(task_sid, actor, action, now))
            return state

    def _change(self, task_sid: str, actor: Actor, action: str) -> RecordingState:
        desired = "paused" if action == "pause" else "recording"
        target_id, current = self._lookup(task_sid, actor, acting=True)
        bound = log.bind(task_sid=task_sid, recording_sid=current.recording_sid, action=action)
        if current.state in NO_MEDIA_STATES:
            # Its recording ended without media; while the call is live the replacement is
            # due, and the agent's word decides whether it starts paused.
            deferred = self._defer(target_id, task_sid, actor, action, awaiting_replacement=True)
            if deferred is not None:
                if action == "resume":
                    self.ctx.schedule(JOB_START, target_id)  # if it was held for the pause
                return deferred
            target_id, current = self._lookup(task_sid, actor, acting=True)
        if current.state == desired or current.state in ENDED_STATES:
            audit(self.ctx, task_sid, current.recording_sid, actor.identity, actor.worker_sid,
                        action, f"noop:{current.state}")  # fmt: skip
            return current
        if current.state in UNFINISHED_STATES:
            deferred = self._defer(target_id, task_sid, actor, action)
            if deferred is not None:
                if action == "resume":
                    # A replacement held back by the pause may start now.
                    self.ctx.schedule(JOB_START, target_id)
                return deferred
            target_id, current = self._lookup(task_sid, actor, acting=True)  # it just started
            if current.state == desired or current.state in ENDED_STATES:
                return current
        if current.recording_sid is None or current.state not in LIVE_STATES:
            raise InvalidState(f"the recording cannot be changed now (state {current.state})")
        status = "paused" if action == "pause" else "in-progress"
        behavior = self.ctx.policy.pause_behavior if action == "pause" else None
        error: GatewayError | None = None
        # Written before the first try: a try that timed out may still have been applied.
        sent = note_sent(self.ctx, current.recording_sid)
        for tries in range(1, _INLINE_ATTEMPTS + 1):
            try:
                self.ctx.recordings.update_recording(
                    current.call_sid or "", current.recording_sid, status, behavior
                )
                error = None
                break
            except GatewayError as exc:
                error = exc
                if exc.code == CALL_NOT_RECORDABLE:
                    return self._not_running(target_id, task_sid, actor, action, current)
                if not exc.retryable:
                    break
                self.ctx.pause_before_retry(tries)
        if error is not None:
            audit(self.ctx, task_sid, current.recording_sid, actor.identity, actor.worker_sid,
                        action, "error", error)  # fmt: skip
            bound.warning("pause/resume failed", error=str(error))
            if error.retryable:
                raise Unavailable("Twilio did not answer; try again") from error
            raise InvalidState(f"Twilio refused: {error}") from error
        answered = self.ctx.now()
        bound.info("recording paused" if action == "pause" else "recording resumed")
        return finish(
            self.ctx,
            target_id,
            task_sid,
            actor.identity,
            actor.worker_sid,
            action,
            desired,
            sent,
            answered,
        )

    def _not_running(
        self, target_id: int, task_sid: str, actor: Actor, action: str, current: RecordingState
    ) -> RecordingState:
        """Twilio answered 21220: the recording is not running. The call ended, or the
        recording ended under the live call (absent, failed) and its status callback has not
        been handled yet. Then the agent's word must still decide the replacement: answered
        'ended', a resume used to leave the replacement held for a pause nobody wanted any
        more, and the rest of the call unrecorded."""
        bound = log.bind(task_sid=task_sid, recording_sid=current.recording_sid, action=action)
        if not self._call_live(current.call_sid):
            bound.info("call ended before pause/resume")
            return finish(
                self.ctx, target_id, task_sid, actor.identity, actor.worker_sid, action, "ended"
            )
        bound.info("recording ended under a pause/resume; kept for its replacement")
        target_id, now = self._lookup(task_sid, actor, acting=True)
        if now.state in LIVE_STATES:
            # Its end is on its way; from the state the agent asked for, that end holds the
            # replacement for a pause or lets it start at once.
            desired = "paused" if action == "pause" else "recording"
            return finish(
                self.ctx, target_id, task_sid, actor.identity, actor.worker_sid, action, desired
            )
        return self._change(task_sid, actor, action)  # ended, or awaiting its replacement

    def _call_live(self, call_sid: str | None) -> bool:
        """Whether Twilio says the call is still up (False when it cannot say)."""
        if not call_sid:
            return False
        for tries in range(1, _INLINE_ATTEMPTS + 1):
            try:
                return not self.ctx.recordings.fetch_call(call_sid).ended
            except GatewayError as exc:
                if not exc.retryable or tries == _INLINE_ATTEMPTS:
                    return False
                self.ctx.pause_before_retry(tries)
        return False  # pragma: no cover - the loop returns

    def _may_act(self, session: Session, task_sid: str, actor: Actor) -> bool:
        """True when the actor may pause/resume the task now (it may already look)."""
        if actor.is_supervisor:
            return True
        return self._holds(session, task_sid, actor, _ACTING_STATUSES)

    @staticmethod
    def _holds(session: Session, task_sid: str, actor: Actor, statuses: tuple[str, ...]) -> bool:
        if not actor.worker_sid:
            return False
        held = session.scalars(
            select(ReservationRecord.sid).where(
                ReservationRecord.task_sid == task_sid,
                ReservationRecord.worker_sid == actor.worker_sid,
                ReservationRecord.status.in_(statuses),
            )
        ).first()
        return held is not None

    def _authorize(self, session: Session, task_sid: str, actor: Actor, *, acting: bool) -> None:
        if session.get(TaskRecord, task_sid) is None:
            raise NotFound(f"task {task_sid} is unknown")
        if actor.is_supervisor:
            return
        if self._holds(session, task_sid, actor, _ACTING_STATUSES if acting else _LOOKING_STATUSES):
            return
        if acting and self._holds(session, task_sid, actor, _LOOKING_STATUSES):
            # The agent's own task, wrapping up: the call is over, not the agent unknown (a
            # 403 told the agent who took the call that only that agent might pause it).
            raise InvalidState("the call is over: the task is wrapping up")
        raise Forbidden("only the task's assigned worker or a supervisor may do this")

    def _target(self, session: Session, task_sid: str, actor: Actor) -> RecordingTarget:
        rows = session.execute(
            select(RecordingTarget, ReservationRecord.worker_sid)
            .join(AttributeWrite, AttributeWrite.target_id == RecordingTarget.id)
            .outerjoin(ReservationRecord, ReservationRecord.sid == RecordingTarget.reservation_sid)
            .where(AttributeWrite.task_sid == task_sid)
            .order_by(RecordingTarget.id.desc())
        ).all()
        if not rows:
            raise _NoTarget(f"task {task_sid} has no recording")
        for target, worker_sid in rows:
            if target.leg == "worker" and actor.worker_sid and worker_sid == actor.worker_sid:
                return target
        return rows[0][0]


def _kept_wish(task_sid: str, actor: Actor, action: str, now: datetime) -> PauseEvent:
    """The audit row of a pause kept (or withdrawn) before there is a recording to act on."""
    return PauseEvent(
        task_sid=task_sid,
        recording_sid=None,
        actor=actor.identity,
        worker_sid=actor.worker_sid,
        action=action,
        result="deferred" if action == "pause" else "recording",
        created_at=now,
    )

"""A pause or resume's result: the target's new state and its audit row written together, and
the recording state the agent API answers with (who asks, what they see).

Both the agent's own requests (flexrec.recording.pause) and the changes the service makes for
them later (flexrec.recording.system_pauses) end here, so every change leaves one audit row in
`pause_events` and one answer shape.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from flexrec.db.models import PauseEvent, RecordingTarget
from flexrec.recording import transitions
from flexrec.recording.context import ServiceContext
from flexrec.recording.errors import NotFound
from flexrec.recording.states import NO_MEDIA_STATES, UNFINISHED_STATES
from flexrec.recording.store import write_session

SUPERVISOR_ROLES = frozenset({"supervisor", "admin"})
SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class Actor:
    """Who asks: the Flex token's identity, worker SID and roles."""

    identity: str
    worker_sid: str | None
    roles: tuple[str, ...] = ()

    @property
    def is_supervisor(self) -> bool:
        """True for supervisors and admins, who may act on any task."""
        return bool(SUPERVISOR_ROLES.intersection(self.roles))


@dataclass(frozen=True)
class RecordingState:
    """A task's recording as the agent API reports it."""

    task_sid: str
    # pending|starting|recording|paused|completed|absent|failed|ended, and for a task with no
    # recording: waiting (none yet, e.g. an outbound call still ringing) or not_recorded (policy)
    state: str
    recording_sid: str | None = None
    call_sid: str | None = None
    leg: str | None = None
    start_time_ms: int | None = None
    detail: str | None = None
    pause_pending: bool = False  # paused as soon as the recording starts
    paused_by: str | None = None  # identity behind the pause in force (or the pending one)
    paused_at: datetime | None = None
    may_act: bool = False  # whether the asker may pause/resume now (not only look)

    @property
    def paused(self) -> bool:
        """True while the recording is paused."""
        return self.state == "paused"


def state_of(task_sid: str, target: RecordingTarget, detail: str | None = None) -> RecordingState:
    """The target's recording state as the agent API reports it (a pending pause included)."""
    pending = target.desired_state == "paused" and target.state in (
        *UNFINISHED_STATES,
        *NO_MEDIA_STATES,
    )
    return RecordingState(
        task_sid=task_sid,
        state=target.state,
        recording_sid=target.recording_sid,
        call_sid=target.call_sid,
        leg=target.leg,
        start_time_ms=target.start_time_ms,
        detail=detail if detail is not None else target.last_error,
        pause_pending=pending,
        paused_by=target.desired_by if pending else None,
        paused_at=target.updated_at if pending else None,
    )


def described(
    session: Session, task_sid: str, target: RecordingTarget, may_act: bool
) -> RecordingState:
    """The target's state with who paused it and since when (from the audit) and `may_act`."""
    state = replace(state_of(task_sid, target), may_act=may_act)
    if target.state != "paused" or target.recording_sid is None:
        return state
    last = session.execute(
        select(PauseEvent.actor, PauseEvent.created_at)
        .where(PauseEvent.recording_sid == target.recording_sid)
        .where(PauseEvent.action == "pause", PauseEvent.result == "paused")
        .order_by(PauseEvent.id.desc())
        .limit(1)
    ).first()
    if last is None:  # paused outside flexrec (e.g. in Twilio's console): who is unknown
        return state
    return replace(state, paused_by=last.actor, paused_at=last.created_at)


def finish(
    ctx: ServiceContext,
    target_id: int,
    task_sid: str,
    actor: str,
    worker_sid: str | None,
    action: str,
    new_state: str,
) -> RecordingState:
    """Write a pause/resume's result on the target with its audit row; the state to answer."""
    now = ctx.now()
    with write_session(ctx.sessions) as session:
        transitions.pause_result(session, target_id, new_state, now)
        target = session.get(RecordingTarget, target_id)
        if target is None:  # pragma: no cover - targets are never deleted
            raise NotFound("recording target vanished")
        session.refresh(target)
        session.add(
            PauseEvent(
                task_sid=task_sid,
                recording_sid=target.recording_sid,
                actor=actor,
                worker_sid=worker_sid,
                action=action,
                result=new_state,
                created_at=now,
            )
        )
        state = replace(state_of(task_sid, target), may_act=True)
        if target.state == "paused" and new_state == "paused":
            state = replace(state, paused_by=actor, paused_at=now)
        elif target.state == "paused":  # someone else's pause is still in force
            state = described(session, task_sid, target, True)
        return state


def audit(
    ctx: ServiceContext,
    task_sid: str,
    recording_sid: str | None,
    actor: str,
    worker_sid: str | None,
    action: str,
    result: str,
    error: Exception | None = None,
) -> None:
    """Write the audit row of a pause/resume that changed nothing (a no-op, an error)."""
    with write_session(ctx.sessions) as session:
        session.add(
            PauseEvent(
                task_sid=task_sid,
                recording_sid=recording_sid,
                actor=actor,
                worker_sid=worker_sid,
                action=action,
                result=result,
                error=str(error) if error else None,
                created_at=ctx.now(),
            )
        )

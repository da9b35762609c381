"""A pause or resume's result: the target's new state and its audit row written together, and
the recording state the agent API answers with (who asks, what they see).

Both the agent's own requests (flexrec.recording.pause) and the changes the service makes for
them later (flexrec.recording.system_pauses) end here, so every change leaves one audit row in
`pause_events` and one answer shape.

A change Twilio made has its row bounded: Twilio applied it between the request's send and its
answer, and the card-data stage places a `skip` pause's point in the file from those bounds
(flexrec.archive.pauses), not from the row's `created_at`, written after the answer. The send
is written down before the request (`note_sent`, on the recording's row): a process killed
after sending never writes the answer, and the next request's answer then bounds the change
from that earlier send, the first moment Twilio may have applied it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from flexrec.db.models import PauseEvent, RecordingRecord, RecordingTarget
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


@dataclass(frozen=True)
class Sent:
    """A pause or resume request about to be sent on `recording_sid` at `at` (flexrec's clock);
    `noted`: the send is written down, so the answer's event may be bounded by it."""

    recording_sid: str
    at: datetime
    noted: bool


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def note_sent(ctx: ServiceContext, recording_sid: str) -> Sent:
    """Write down, before sending it, that a pause or resume request leaves now (kept when an
    earlier one is still unanswered: Twilio may have applied that one first)."""
    now = ctx.now()
    with write_session(ctx.sessions) as session:
        result: Any = session.execute(
            update(RecordingRecord)
            .where(RecordingRecord.sid == recording_sid)
            .values(change_sent_ms=func.coalesce(RecordingRecord.change_sent_ms, _epoch_ms(now)))
            .execution_options(synchronize_session=False)
        )
    return Sent(recording_sid, now, bool(result.rowcount == 1))


def _bounds(
    session: Session, sent: Sent | None, answered_at: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """When Twilio applied an answered change: from the earliest unanswered send on the
    recording (its own, or one a killed process left) to the answer; (None, None) unknown."""
    if sent is None or answered_at is None or not sent.noted:
        return None, None
    row = session.get(RecordingRecord, sent.recording_sid)
    if row is None or row.change_sent_ms is None:
        # Its note is gone: another answer took it, so this send is the earliest unanswered.
        return sent.at, answered_at
    earliest = min(sent.at, datetime.fromtimestamp(row.change_sent_ms / 1000, UTC))
    row.change_sent_ms = None
    return earliest, answered_at


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
    sent: Sent | None = None,
    answered_at: datetime | None = None,
) -> RecordingState:
    """Write a pause/resume's result on the target with its audit row; the state to answer
    (`sent`, `answered_at`: the request Twilio answered with this change, which bounds it)."""
    now = ctx.now()
    with write_session(ctx.sessions) as session:
        sent_at, answered = _bounds(session, sent, answered_at)
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
                sent_at=sent_at,
                answered_at=answered,
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

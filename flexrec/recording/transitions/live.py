"""A target once its start is settled: what Twilio reports (status callbacks, the call's end,
refreshes), pauses and the agent's wishes, and the controller's moves while the call is live
(replace a recording that ended without media, respect a stop, re-adopt)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from flexrec.db.models import RecordingTarget
from flexrec.db.prepared import Prepared, attached
from flexrec.recording.states import (
    NO_MEDIA_STATES,
    is_ended,
)
from flexrec.recording.store import Executor
from flexrec.recording.transitions.starts import StartedRecording
from flexrec.recording.transitions.table import (
    CALL_OVER,
    CALL_OVER_LIVE,
    GAVE_UP,
    IDENTIFIED,
    LEG_OVER,
    PAUSE_WISHED,
    PAUSED,
    READOPTED,
    REPLACED,
    REPLACEMENT_WISHED,
    REPORTED,
    REPORTED_RUNNING,
    RESUMED,
    STOPPED_BY_OTHER,
    TOUCHED,
    WISH_CLEARED,
    Transition,
    allowed,
    arriving,
    leaving,
)
from flexrec.webhooks.events import RecordingStatusEvent

# -- what Twilio reports ---------------------------------------------------------------------------
# Every leg's end runs these (prepared statements: flexrec.db.prepared).
_CALL_OVER = Prepared(
    update(RecordingTarget)
    .where(RecordingTarget.call_sid == bindparam("call"), leaving(CALL_OVER))
    .values(**arriving(CALL_OVER), last_error=bindparam("error"), updated_at=bindparam("now"))
)
_LEG_OVER = Prepared(
    update(RecordingTarget)
    .where(
        RecordingTarget.call_sid == bindparam("call"),
        leaving(LEG_OVER),
        RecordingTarget.call_ended_at.is_(None),
    )
    .values(call_ended_at=bindparam("now"))
)


def call_over(session: Executor, call_sid: str, call_status: str, now: datetime) -> None:
    """`call_over`: the leg's targets that never started will never be recorded."""
    error = f"call {call_status} before the recording started"
    _CALL_OVER.execute(session, {"call": call_sid, "error": error, "now": now})


_TARGET_OF_RECORDING = Prepared(
    select(*RecordingTarget.__table__.columns).where(
        RecordingTarget.recording_sid == bindparam("sid")
    )
)


def target_of_recording(session: Session, recording_sid: str) -> RecordingTarget | None:
    """The target of a recording, as an object of the session (read prepared and attached:
    every status callback loads it)."""
    row = _TARGET_OF_RECORDING.execute(session, {"sid": recording_sid}).first()
    return attached(session, RecordingTarget, row._asdict()) if row is not None else None


def identify(target: RecordingTarget, event: RecordingStatusEvent) -> None:
    """`identified`: a status callback names the recording of a target that had none (our
    create's answer may still be in flight, or was lost)."""
    if not allowed(IDENTIFIED, target.state) or target.recording_sid is not None:
        return
    target.recording_sid = event.recording_sid
    target.source = target.source or "created"
    target.start_time_ms = target.start_time_ms or event.start_time_ms


def apply_status(target: RecordingTarget, event: RecordingStatusEvent, now: datetime) -> None:
    """A status callback of the target's recording: `reported_running` or `reported_<outcome>`
    where allowed; never backwards, never out of a final state."""
    if target.recording_sid != event.recording_sid:
        return
    outcome = REPORTED.get(event.status)
    move = outcome if outcome is not None else (
        REPORTED_RUNNING if event.status == "in-progress" else None
    )  # fmt: skip
    if move is not None and move.dest is not None and allowed(move, target.state):
        if target.state == "paused" and move.dest in NO_MEDIA_STATES:
            # A pause is never undone: a replacement waits for the resume.
            target.desired_state = "paused"
            target.desired_by = target.desired_by or "system"
        target.state = move.dest
        target.claim_token = None
        target.claimed_at = None
    if event.start_time_ms and not target.start_time_ms:
        target.start_time_ms = event.start_time_ms
    if event.error_code and is_ended(target.state):
        target.last_error = f"recording {event.status}, error {event.error_code}"
    target.updated_at = now


def touch(session: Session, target_id: int, now: datetime) -> None:
    """`touched`: a refresh found the recording still running (looked at again after a while)."""
    session.execute(
        update(RecordingTarget)
        .where(RecordingTarget.id == target_id, leaving(TOUCHED))
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )


# -- pauses ----------------------------------------------------------------------------------------
_PAUSE_RESULTS: Final = {"paused": PAUSED, "recording": RESUMED, "ended": CALL_OVER_LIVE}


def pause_result(session: Session, target_id: int, new_state: str, now: datetime) -> None:
    """`paused`, `resumed` or `call_over_live`: what Twilio answered a pause or resume."""
    t = _PAUSE_RESULTS[new_state]
    session.execute(
        update(RecordingTarget)
        .where(RecordingTarget.id == target_id, leaving(t))
        .values(**arriving(t), updated_at=now)
        .execution_options(synchronize_session=False)
    )


def wish_pause(
    session: Session,
    target_id: int,
    *,
    paused: bool,
    actor: str,
    worker_sid: str | None,
    now: datetime,
) -> bool:
    """`pause_wished`: remember (or forget) a pause while the recording is being started;
    False when the target is no longer starting (it has a recording to act on)."""
    return _wish(session, target_id, PAUSE_WISHED, paused, actor, worker_sid, now)


def wish_replacement(
    session: Session,
    target_id: int,
    *,
    paused: bool,
    actor: str,
    worker_sid: str | None,
    now: datetime,
) -> bool:
    """`replacement_wished`: the agent's pause or resume, for the replacement of a recording that
    ended without media while the call is live; False once the call is over or the target moved
    on (replaced: `wish_pause` then applies)."""
    return _wish(session, target_id, REPLACEMENT_WISHED, paused, actor, worker_sid, now)


def _wish(
    session: Session,
    target_id: int,
    transition: Transition,
    paused: bool,
    actor: str,
    worker_sid: str | None,
    now: datetime,
) -> bool:
    """Write the agent's last word on a target that `transition` may leave; False when it cannot."""
    result: Any = session.execute(
        update(RecordingTarget)
        .where(RecordingTarget.id == target_id, leaving(transition))
        .values(
            desired_state="paused" if paused else None,
            desired_by=actor,
            desired_worker_sid=worker_sid,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


def clear_wish(
    session: Session,
    target_id: int,
    worker_sid: str | None = None,
    *,
    while_state: str | None = None,
) -> None:
    """`wish_cleared`: the pause wish applied or dropped (only `worker_sid`'s, if given; only
    while the target is in `while_state`, if given)."""
    stmt = update(RecordingTarget).where(RecordingTarget.id == target_id, leaving(WISH_CLEARED))
    if worker_sid is not None:
        stmt = stmt.where(RecordingTarget.desired_worker_sid == worker_sid)
    if while_state is not None:
        stmt = stmt.where(RecordingTarget.state == while_state)
    session.execute(stmt.values(desired_state=None).execution_options(synchronize_session=False))


# -- the controller, while the call is live ------------------------------------------------------
def leg_over(session: Executor, call_sid: str, now: datetime) -> None:
    """`leg_over`: the leg's call ended; its ended targets are final from now on."""
    _LEG_OVER.execute(session, {"call": call_sid, "now": now})


def replace(
    session: Session,
    target_id: int,
    *,
    cap: int,
    due_at: datetime | None,
    now: datetime,
    error: str,
) -> bool:
    """`replaced`: the leg is recorded again (a new start, due at `due_at`) after its recording
    ended without media; False when the call is over or the cap was reached meanwhile."""
    result: Any = session.execute(
        update(RecordingTarget)
        .where(
            RecordingTarget.id == target_id,
            leaving(REPLACED),
            RecordingTarget.replacements < cap,
        )
        .values(
            **arriving(REPLACED),
            replacements=RecordingTarget.replacements + 1,
            attempts=0,
            recording_sid=None,
            source=None,
            start_time_ms=None,
            next_attempt_at=due_at,
            claim_token=None,
            claim_owner=None,
            claimed_at=None,
            last_error=error,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


def give_up(session: Session, target_id: int, *, now: datetime, error: str) -> bool:
    """`gave_up`: the replacement cap is reached; the leg stays unrecorded (and reported)."""
    result: Any = session.execute(
        update(RecordingTarget)
        .where(RecordingTarget.id == target_id, leaving(GAVE_UP))
        .where(or_(RecordingTarget.last_error.is_(None), RecordingTarget.last_error != error))
        .values(last_error=error, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


def stopped_by_other(session: Session, target_id: int, now: datetime) -> bool:
    """`stopped_by_other`: its recording completed while the call went on; respected."""
    result: Any = session.execute(
        update(RecordingTarget)
        .where(RecordingTarget.id == target_id, leaving(STOPPED_BY_OTHER))
        .values(**arriving(STOPPED_BY_OTHER), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


def readopt(session: Session, target_id: int, recording: StartedRecording, now: datetime) -> bool:
    """`readopted`: a stopped leg records again with a recording someone else started."""
    result: Any = session.execute(
        update(RecordingTarget)
        .where(RecordingTarget.id == target_id, leaving(READOPTED))
        .values(
            **arriving(READOPTED),
            recording_sid=recording.recording_sid,
            source=recording.source,
            start_time_ms=recording.start_time_ms,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)

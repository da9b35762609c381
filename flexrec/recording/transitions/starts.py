"""A target's way to a recording: its creation (`planned`), the claim and the claim's outcomes
(started, retry, refused, the call over), and the reaping of claims whose process is gone;
with the reads planning makes of a target."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol, cast

from sqlalchemy import Connection, and_, bindparam, exists, or_, select, update
from sqlalchemy.orm import Session

from flexrec.db.models import PauseEvent, RecordingTarget, ServiceOwner
from flexrec.db.prepared import Prepared, one_of
from flexrec.recording.store import insert_returning
from flexrec.recording.transitions.table import (
    CALL_OVER_AT_START,
    CLAIMED,
    IDENTIFIED,
    PLANNED,
    REAPED,
    RETRY_DUE,
    START_REFUSED,
    STARTED,
    STARTED_PAUSED,
    Transition,
    allowed,
    arriving,
    leaving,
)


# -- reading a target for planning -----------------------------------------------------------------
class TargetRow(Protocol):
    """What planning reads of a target (a row of plain columns, or the ORM object)."""

    id: int
    state: str
    recording_sid: str | None
    call_sid: str
    attempts: int
    event_ms: int | None


_TARGET_COLUMNS = (
    RecordingTarget.id,
    RecordingTarget.state,
    RecordingTarget.recording_sid,
    RecordingTarget.call_sid,
    RecordingTarget.attempts,
    RecordingTarget.event_ms,
)
_TARGET_ROW_BY_LEG = Prepared(
    select(*_TARGET_COLUMNS).where(RecordingTarget.leg_key == bindparam("leg_key"))
)


def target_row(session: Session, leg_key: str) -> TargetRow | None:
    """The leg's target as plain columns, or None (what the session holds is flushed first)."""
    row = _TARGET_ROW_BY_LEG.execute(session, {"leg_key": leg_key}).first()
    return cast(TargetRow | None, row)


# -- planned: the row's creation -------------------------------------------------------------------
@dataclass(frozen=True)
class PauseWish:
    """The agent's last word on the task's recording was "pause" (who said it)."""

    actor: str
    worker_sid: str | None


# The outcomes of a pause or resume that say what the agent wants (not noop, error or ended).
_WISH_RESULTS: Final = ("deferred", "paused", "recording")
_LAST_WORD = Prepared(
    select(PauseEvent.action, PauseEvent.result, PauseEvent.actor, PauseEvent.worker_sid)
    .where(PauseEvent.task_sid == bindparam("task_sid"))
    .where(one_of(PauseEvent.result, _WISH_RESULTS))
    .order_by(PauseEvent.id.desc())
    .limit(1)
)


def task_pause_wish(session: Session, task_sid: str) -> PauseWish | None:
    """A pause asked for the task that no resume followed, or None: a recording started on any
    of the task's legs from now on starts paused (asked before its leg was even known)."""
    row = _LAST_WORD.execute(session, {"task_sid": task_sid}).first()
    if row is None or row.action != "pause":
        return None
    return PauseWish(str(row.actor), row.worker_sid)


_TARGET_INSERT = Prepared(
    lambda dialect: insert_returning(
        dialect, RecordingTarget.__table__, ("leg_key",), _TARGET_COLUMNS
    )
)


def ensure_target(
    session: Session,
    *,
    leg_key: str,
    call_sid: str,
    leg: str,
    task_sid: str,
    reservation_sid: str | None,
    now: datetime,
    event_ms: int | None,
) -> tuple[TargetRow, bool]:
    """The one target of a leg, created `pending` if missing (`planned`); (target, created).

    Plain statements, no ORM objects: this runs for every event of every task, and loading
    objects cost more than the statements.
    """
    # Read first: the target almost always exists already (every later event of the task).
    found = target_row(session, leg_key)
    if found is not None:
        return found, False
    # A new leg of a task the agent paused starts paused (the pause came before the leg was
    # found: an outbound call still ringing, a leg search still running).
    wish = task_pause_wish(session, task_sid)
    created = _TARGET_INSERT.execute(
        session,
        {
            "leg_key": leg_key,
            "call_sid": call_sid,
            "leg": leg,
            "task_sid": task_sid,
            "reservation_sid": reservation_sid,
            "state": PLANNED.dest,
            "recording_sid": None,
            "source": None,
            "start_time_ms": None,
            "attempts": 0,
            "event_ms": event_ms,
            "desired_state": "paused" if wish is not None else None,
            "desired_by": wish.actor if wish is not None else None,
            "desired_worker_sid": wish.worker_sid if wish is not None else None,
            "created_at": now,
            "updated_at": now,
        },
    ).first()
    if created is not None:
        return cast(TargetRow, created), True
    again = target_row(session, leg_key)
    if again is None:  # pragma: no cover - inserted by us or by the transaction that won
        raise RuntimeError(f"target of {leg_key} vanished")
    return again, False


def not_held_for_pause() -> Any:
    """The SQL condition of a target not held back: a replacement waits for its leg's pause to
    end (spelt out for NULLs: NOT over a NULL comparison would hold back everything)."""
    return or_(
        RecordingTarget.desired_state.is_(None),
        RecordingTarget.desired_state != "paused",
        RecordingTarget.replacements == 0,
    )


# -- claimed and the claim's outcomes --------------------------------------------------------------
_CLAIMABLE = or_(
    and_(
        RecordingTarget.state == "pending",
        or_(
            RecordingTarget.next_attempt_at.is_(None),
            RecordingTarget.next_attempt_at <= bindparam("b_now"),
        ),
        # A replacement of a recording that was paused waits for the resume: starting it
        # would undo the pause (a card number read out meanwhile would be recorded).
        not_held_for_pause(),
    ),
    # The backstop for an attempt stuck past its window (it never creates after half of it);
    # a gone owner's claims are put back to `pending` at once (`reaped`).
    and_(
        RecordingTarget.state == "starting",
        RecordingTarget.claimed_at < bindparam("b_stale_before"),
    ),
)
_CLAIM_VALUES = {
    **arriving(CLAIMED),
    "claim_token": bindparam("b_token"),
    "claim_owner": bindparam("b_owner"),
    "claimed_at": bindparam("b_now"),
    "attempts": RecordingTarget.attempts + 1,
    "updated_at": bindparam("b_now"),
}
_CLAIM = Prepared(
    update(RecordingTarget)
    .where(RecordingTarget.id == bindparam("b_id"), _CLAIMABLE)
    .values(**_CLAIM_VALUES)
    .execution_options(synchronize_session=False)
)
# A claim under an owner id only while that owner's row exists: a process that was reaped
# (its lease ran out) can never claim under its old id again.
_CLAIM_OWNED = Prepared(
    update(RecordingTarget)
    .where(
        RecordingTarget.id == bindparam("b_id"),
        _CLAIMABLE,
        exists().where(ServiceOwner.owner_id == bindparam("b_owner")),
    )
    .values(**_CLAIM_VALUES)
    .execution_options(synchronize_session=False)
)


def claim(
    session: Session,
    target_id: int,
    token: str,
    now: datetime,
    visibility: timedelta,
    owner: str | None = None,
) -> bool:
    """`claimed`: atomically move a due `pending` (or stale `starting`) target to `starting`.

    One conditional UPDATE: across threads and processes exactly one claimant sees rowcount 1.
    `owner`: this process's owner id (flexrec.recording.owners), recorded with the claim.
    """
    params = {
        "b_id": target_id,
        "b_now": now,
        "b_stale_before": now - visibility,
        "b_token": token,
        "b_owner": owner,
    }
    return (_CLAIM if owner is None else _CLAIM_OWNED).execute(session, params).rowcount == 1


@functools.cache
def _release(transition: Transition, returning: bool) -> Any:
    """UPDATE of a target we hold the claim of, to `transition`'s state (SET from the params)."""
    stmt = (
        update(RecordingTarget)
        .where(
            RecordingTarget.id == bindparam("b_id"),
            RecordingTarget.claim_token == bindparam("b_token"),
            leaving(transition),
        )
        .execution_options(synchronize_session=False)
    )
    if returning:
        return stmt.returning(RecordingTarget.desired_state, RecordingTarget.replacements)
    return stmt


def _released(target_id: int, token: str, transition: Transition) -> dict[str, Any]:
    return {
        "b_id": target_id,
        "b_token": token,
        "claim_token": None,
        "claim_owner": None,
        "claimed_at": None,
        **arriving(transition),
    }


def retry_due(
    session: Session, target_id: int, token: str, *, now: datetime, delay_s: float, error: str
) -> bool:
    """`retry_due`: our claim given back, the start due again after `delay_s`."""
    params = {
        **_released(target_id, token, RETRY_DUE),
        "next_attempt_at": now + timedelta(seconds=delay_s),
        "last_error": error,
        "updated_at": now,
    }
    result: Any = session.execute(_release(RETRY_DUE, False), params)
    return bool(result.rowcount == 1)


def start_refused(
    session: Session, target_id: int, token: str, *, now: datetime, error: str
) -> bool:
    """`start_refused`: Twilio refused the create for good."""
    return _give_up(session, START_REFUSED, target_id, token, now, error)


def call_over_at_start(
    session: Session, target_id: int, token: str, *, now: datetime, error: str
) -> bool:
    """`call_over_at_start`: the leg ended before its recording could start."""
    return _give_up(session, CALL_OVER_AT_START, target_id, token, now, error)


def _give_up(
    session: Session, t: Transition, target_id: int, token: str, now: datetime, error: str
) -> bool:
    params = {**_released(target_id, token, t), "last_error": error, "updated_at": now}
    result: Any = session.execute(_release(t, False), params)
    return bool(result.rowcount == 1)


@functools.cache
def _started(t: Transition) -> Prepared:
    """`started`'s UPDATE (prepared: every recording's start runs it)."""
    columns = ("claim_token", "claim_owner", "claimed_at", *arriving(t))
    columns += ("recording_sid", "source", "start_time_ms", "last_error", "updated_at")
    return Prepared(_release(t, True).values({name: bindparam(name) for name in columns}))


@dataclass(frozen=True)
class StartedRecording:
    """What `started` stores: the recording now running on the leg."""

    recording_sid: str
    source: str
    start_time_ms: int | None
    paused: bool


def started_while_claimed(
    executor: Session | Connection,
    target_id: int,
    token: str,
    recording: StartedRecording,
    now: datetime,
) -> tuple[str | None, int] | None:
    """`started` (or `started_paused`) if our claim still holds, in one prepared UPDATE (a
    bare connection will do): (the pause wish on the target, replacements so far); None when
    the claim is no longer ours (`started` then identifies)."""
    t = STARTED_PAUSED if recording.paused else STARTED
    values = {
        **_released(target_id, token, t),
        "recording_sid": recording.recording_sid,
        "source": recording.source,
        "start_time_ms": recording.start_time_ms,
        "last_error": None,
        "updated_at": now,
    }
    released = _started(t).execute(executor, values).first()
    if released is None:
        return None
    return cast(str | None, released.desired_state), int(released.replacements)


def started(
    session: Session, target_id: int, token: str, recording: StartedRecording, now: datetime
) -> tuple[bool, str | None, int]:
    """`started` (or `started_paused`) while our claim holds; else, when a status callback or a
    reclaim got there first, `identified`: its state kept, only what it could not know filled
    in. Returns (claim still held, the pause wish on the target, replacements so far)."""
    released = started_while_claimed(session, target_id, token, recording, now)
    if released is not None:
        return True, *released
    target = session.get(RecordingTarget, target_id)
    if target is None:  # pragma: no cover - targets are never deleted
        return False, None, 0
    if not allowed(IDENTIFIED, target.state):  # pragma: no cover - any state may be identified
        return False, target.desired_state, target.replacements
    if target.recording_sid is None:
        target.recording_sid = recording.recording_sid
    if target.recording_sid == recording.recording_sid:
        target.source = target.source or recording.source
        target.start_time_ms = target.start_time_ms or recording.start_time_ms
    target.updated_at = now
    return False, target.desired_state, target.replacements


# -- reaped: claims of gone processes --------------------------------------------------------------
_OWNER_EXISTS = exists().where(ServiceOwner.owner_id == RecordingTarget.claim_owner)
_ORPHANED = and_(leaving(REAPED), RecordingTarget.claim_owner.is_not(None), ~_OWNER_EXISTS)
ORPHANED_CLAIM = select(RecordingTarget.id).where(_ORPHANED).limit(1)


def reap_orphaned_claims(session: Session, now: datetime) -> list[int]:
    """`reaped`: `starting` targets claimed by an owner with no row (gone) back to due `pending`."""
    stmt = (
        update(RecordingTarget)
        .where(_ORPHANED)
        .values(
            **arriving(REAPED),
            claim_token=None,
            claim_owner=None,
            claimed_at=None,
            next_attempt_at=None,
            updated_at=now,
        )
        .returning(RecordingTarget.id)
        .execution_options(synchronize_session=False)
    )
    ids: Sequence[int] = session.scalars(stmt).all()
    return list(ids)

"""The one writer of `recording_targets`: every change to a target is a transition named here.

A target is one call leg policy records. Each transition says which states it may leave, the
state it leads to (or none: bookkeeping that keeps the state) and the facts it needs; the
functions below are the only code that writes the table, and each one's SQL condition is
built from its transition (`WHERE state IN sources`), so a write the table does not allow
changes no row. Everything else asks this module. The state diagram in docs/design.md is
`diagram()`'s output (tests/unit/recording/test_recording_transitions.py checks they agree,
and that no other module writes the table).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol, cast

from sqlalchemy import and_, bindparam, exists, or_, select, update
from sqlalchemy.orm import Session

from flexrec.db.models import RecordingTarget, ServiceOwner
from flexrec.recording.states import (
    FINAL_STATES,
    LIVE_STATES,
    TARGET_STATES,
    UNFINISHED_STATES,
    TargetState,
    is_final,
)
from flexrec.recording.store import insert_returning
from flexrec.webhooks.events import RecordingStatusEvent


@dataclass(frozen=True)
class Transition:
    """One allowed change of a target: from any of `sources` to `dest` (None: state kept)."""

    name: str
    sources: tuple[TargetState, ...]  # () for the row's creation
    dest: TargetState | None
    facts: str  # what the transition needs to know (for the design notes)


_ANY: Final[tuple[TargetState, ...]] = tuple(sorted(TARGET_STATES))
_OPEN: Final[tuple[TargetState, ...]] = (*UNFINISHED_STATES, *LIVE_STATES)

_CLAIM_HELD: Final[tuple[TargetState, ...]] = ("starting",)
PLANNED = Transition("planned", (), "pending", "policy records the leg: leg, call, task")
CLAIMED = Transition(
    "claimed",
    ("pending", "starting"),
    "starting",
    "a claim token and owner; pending and due, or starting with a stale claim",
)
STARTED = Transition(
    "started", _CLAIM_HELD, "recording", "our claim; the recording created or adopted"
)
STARTED_PAUSED = Transition(
    "started_paused", _CLAIM_HELD, "paused", "our claim; an adopted recording Twilio reports paused"
)
RETRY_DUE = Transition(
    "retry_due", _CLAIM_HELD, "pending", "our claim; a retryable error, the next attempt's time"
)
START_REFUSED = Transition(
    "start_refused", _CLAIM_HELD, "failed", "our claim; Twilio refused the create (4xx)"
)
CALL_OVER_AT_START = Transition(
    "call_over_at_start", _CLAIM_HELD, "ended", "our claim; 21220 and the call is over"
)
REAPED = Transition("reaped", ("starting",), "pending", "the claim's owner process is gone")
CALL_OVER = Transition(
    "call_over", ("pending",), "ended", "a terminal call status before any start"
)
REPORTED_RUNNING = Transition(
    "reported_running", UNFINISHED_STATES, "recording", "an in-progress callback of its recording"
)
REPORTED_COMPLETED = Transition(
    "reported_completed", _OPEN, "completed", "a completed callback of its recording"
)
REPORTED_ABSENT = Transition(
    "reported_absent", _OPEN, "absent", "an absent callback of its recording"
)
REPORTED_FAILED = Transition(
    "reported_failed", _OPEN, "failed", "a failed callback of its recording"
)
PAUSED = Transition("paused", LIVE_STATES, "paused", "Twilio accepted a pause")
RESUMED = Transition("resumed", LIVE_STATES, "recording", "Twilio accepted a resume")
CALL_OVER_LIVE = Transition("call_over_live", LIVE_STATES, "ended", "21220 on a pause or resume")
# Bookkeeping: the state stays.
PAUSE_WISHED = Transition(
    "pause_wished", UNFINISHED_STATES, None, "a pause or resume asked before the recording exists"
)
WISH_CLEARED = Transition("wish_cleared", _ANY, None, "the wish applied, or the work over")
IDENTIFIED = Transition(
    "identified", _ANY, None, "the SID of its recording, for a target that had none"
)
TOUCHED = Transition("touched", _ANY, None, "a refresh found the recording still running")

TRANSITIONS: Final[tuple[Transition, ...]] = (
    PLANNED, CLAIMED, STARTED, STARTED_PAUSED, RETRY_DUE, START_REFUSED, CALL_OVER_AT_START,
    REAPED, CALL_OVER, REPORTED_RUNNING, REPORTED_COMPLETED, REPORTED_ABSENT, REPORTED_FAILED,
    PAUSED, RESUMED, CALL_OVER_LIVE, PAUSE_WISHED, WISH_CLEARED, IDENTIFIED, TOUCHED,
)  # fmt: skip
_REPORTED: Final = {
    "completed": REPORTED_COMPLETED,
    "absent": REPORTED_ABSENT,
    "failed": REPORTED_FAILED,
}


def allowed(transition: Transition, state: str) -> bool:
    """Whether `transition` may leave `state`."""
    return state in transition.sources


def diagram() -> str:
    """The state diagram (Mermaid) and the transition table, as docs/design.md holds them."""
    lines = ["```mermaid", "stateDiagram-v2"]
    lines.append(f"    [*] --> {PLANNED.dest}: {PLANNED.name}")
    edges: dict[tuple[str, str], list[str]] = {}
    for t in TRANSITIONS:
        if t.dest is None or not t.sources:
            continue
        for source in t.sources:
            if source != t.dest or t is CLAIMED:
                edges.setdefault((source, t.dest), []).append(t.name)
    lines += [f"    {a} --> {b}: {' / '.join(names)}" for (a, b), names in edges.items()]
    lines += [f"    {state} --> [*]" for state in FINAL_STATES]
    lines += ["```", "", "| transition | from | to | facts it needs |", "|---|---|---|---|"]
    for t in TRANSITIONS:
        sources = ", ".join(t.sources) if t.sources else "(new row)"
        if t.sources == _ANY:
            sources = "any"
        lines.append(f"| `{t.name}` | {sources} | {t.dest or '(unchanged)'} | {t.facts} |")
    return "\n".join(lines) + "\n"


def _in(transition: Transition) -> Any:
    """The SQL condition of leaving one of `transition`'s sources."""
    return RecordingTarget.state.in_(transition.sources)


def _to(transition: Transition) -> dict[str, Any]:
    return {} if transition.dest is None else {"state": transition.dest}


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
_TARGET_ROW_BY_LEG = select(*_TARGET_COLUMNS).where(RecordingTarget.leg_key == bindparam("leg_key"))


def target_row(session: Session, leg_key: str) -> TargetRow | None:
    """The leg's target as plain columns, or None."""
    session.flush()  # what an ORM query would autoflush: plain statements see it too
    row = session.connection().execute(_TARGET_ROW_BY_LEG, {"leg_key": leg_key}).first()
    return cast(TargetRow | None, row)


# -- planned: the row's creation -------------------------------------------------------------------
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
    connection = session.connection()
    insert = insert_returning(
        connection.dialect.name, RecordingTarget.__table__, ("leg_key",), _TARGET_COLUMNS
    )
    created = connection.execute(
        insert,
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
            "created_at": now,
            "updated_at": now,
        },
    ).first()
    if created is not None:
        return cast(TargetRow, created), True
    again = connection.execute(_TARGET_ROW_BY_LEG, {"leg_key": leg_key}).one()
    return cast(TargetRow, again), False


# -- claimed and the claim's outcomes --------------------------------------------------------------
_CLAIMABLE = or_(
    and_(
        RecordingTarget.state == "pending",
        or_(
            RecordingTarget.next_attempt_at.is_(None),
            RecordingTarget.next_attempt_at <= bindparam("b_now"),
        ),
    ),
    # The backstop for an attempt stuck past its window (it never creates after half of it);
    # a gone owner's claims are put back to `pending` at once (`reaped`).
    and_(
        RecordingTarget.state == "starting",
        RecordingTarget.claimed_at < bindparam("b_stale_before"),
    ),
)
_CLAIM_VALUES = {
    **_to(CLAIMED),
    "claim_token": bindparam("b_token"),
    "claim_owner": bindparam("b_owner"),
    "claimed_at": bindparam("b_now"),
    "attempts": RecordingTarget.attempts + 1,
    "updated_at": bindparam("b_now"),
}
_CLAIM = (
    update(RecordingTarget)
    .where(RecordingTarget.id == bindparam("b_id"), _CLAIMABLE)
    .values(**_CLAIM_VALUES)
    .execution_options(synchronize_session=False)
)
# A claim under an owner id only while that owner's row exists: a process that was reaped
# (its lease ran out) can never claim under its old id again.
_CLAIM_OWNED = (
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
    result: Any = session.execute(_CLAIM if owner is None else _CLAIM_OWNED, params)
    return bool(result.rowcount == 1)


@functools.cache
def _release(transition: Transition, returning: bool) -> Any:
    """UPDATE of a target we hold the claim of, to `transition`'s state (SET from the params)."""
    stmt = (
        update(RecordingTarget)
        .where(
            RecordingTarget.id == bindparam("b_id"),
            RecordingTarget.claim_token == bindparam("b_token"),
            _in(transition),
        )
        .execution_options(synchronize_session=False)
    )
    return stmt.returning(RecordingTarget.desired_state) if returning else stmt


def _released(target_id: int, token: str, transition: Transition) -> dict[str, Any]:
    return {
        "b_id": target_id,
        "b_token": token,
        "claim_token": None,
        "claim_owner": None,
        "claimed_at": None,
        **_to(transition),
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


@dataclass(frozen=True)
class StartedRecording:
    """What `started` stores: the recording now running on the leg."""

    recording_sid: str
    source: str
    start_time_ms: int | None
    paused: bool


def started(
    session: Session, target_id: int, token: str, recording: StartedRecording, now: datetime
) -> tuple[bool, str | None]:
    """`started` (or `started_paused`) while our claim holds; else, when a status callback or a
    reclaim got there first, `identified`: its state kept, only what it could not know filled
    in. Returns (claim still held, the pause wish on the target)."""
    t = STARTED_PAUSED if recording.paused else STARTED
    values = {
        **_released(target_id, token, t),
        "recording_sid": recording.recording_sid,
        "source": recording.source,
        "start_time_ms": recording.start_time_ms,
        "last_error": None,
        "updated_at": now,
    }
    released = session.connection().execute(_release(t, True), values).first()
    if released is not None:
        return True, cast(str | None, released.desired_state)
    target = session.get(RecordingTarget, target_id)
    if target is None or not allowed(IDENTIFIED, target.state):  # pragma: no cover
        return False, None if target is None else target.desired_state
    if target.recording_sid is None:
        target.recording_sid = recording.recording_sid
    if target.recording_sid == recording.recording_sid:
        target.source = target.source or recording.source
        target.start_time_ms = target.start_time_ms or recording.start_time_ms
    target.updated_at = now
    return False, target.desired_state


# -- reaped: claims of gone processes --------------------------------------------------------------
_OWNER_EXISTS = exists().where(ServiceOwner.owner_id == RecordingTarget.claim_owner)
_ORPHANED = and_(_in(REAPED), RecordingTarget.claim_owner.is_not(None), ~_OWNER_EXISTS)
ORPHANED_CLAIM = select(RecordingTarget.id).where(_ORPHANED).limit(1)


def reap_orphaned_claims(session: Session, now: datetime) -> list[int]:
    """`reaped`: `starting` targets claimed by an owner with no row (gone) back to due `pending`."""
    stmt = (
        update(RecordingTarget)
        .where(_ORPHANED)
        .values(
            **_to(REAPED),
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


# -- what Twilio reports ---------------------------------------------------------------------------
def call_over(session: Session, call_sid: str, call_status: str, now: datetime) -> None:
    """`call_over`: the leg's targets that never started will never be recorded."""
    session.execute(
        update(RecordingTarget)
        .where(RecordingTarget.call_sid == call_sid, _in(CALL_OVER))
        .values(
            **_to(CALL_OVER),
            last_error=f"call {call_status} before the recording started",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


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
    outcome = _REPORTED.get(event.status)
    move = outcome if outcome is not None else (
        REPORTED_RUNNING if event.status == "in-progress" else None
    )  # fmt: skip
    if move is not None and move.dest is not None and allowed(move, target.state):
        target.state = move.dest
        target.claim_token = None
        target.claimed_at = None
    if event.start_time_ms and not target.start_time_ms:
        target.start_time_ms = event.start_time_ms
    if event.error_code and is_final(target.state):
        target.last_error = f"recording {event.status}, error {event.error_code}"
    target.updated_at = now


def touch(session: Session, target_id: int, now: datetime) -> None:
    """`touched`: a refresh found the recording still running (looked at again after a while)."""
    session.execute(
        update(RecordingTarget)
        .where(RecordingTarget.id == target_id, _in(TOUCHED))
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
        .where(RecordingTarget.id == target_id, _in(t))
        .values(**_to(t), updated_at=now)
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
    result: Any = session.execute(
        update(RecordingTarget)
        .where(RecordingTarget.id == target_id, _in(PAUSE_WISHED))
        .values(
            desired_state="paused" if paused else None,
            desired_by=actor,
            desired_worker_sid=worker_sid,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


def clear_wish(session: Session, target_id: int, worker_sid: str | None = None) -> None:
    """`wish_cleared`: the pause wish applied or dropped (only `worker_sid`'s, if given)."""
    stmt = update(RecordingTarget).where(RecordingTarget.id == target_id, _in(WISH_CLEARED))
    if worker_sid is not None:
        stmt = stmt.where(RecordingTarget.desired_worker_sid == worker_sid)
    session.execute(stmt.values(desired_state=None).execution_options(synchronize_session=False))

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

from flexrec.db.models import PauseEvent, RecordingTarget, ServiceOwner
from flexrec.db.prepared import Prepared
from flexrec.recording.states import (
    ENDED_STATES,
    LIVE_STATES,
    NO_MEDIA_STATES,
    TARGET_STATES,
    UNFINISHED_STATES,
    TargetState,
    is_ended,
)
from flexrec.recording.store import Executor, insert_returning
from flexrec.webhooks.events import RecordingStatusEvent


@dataclass(frozen=True)
class Transition:
    """One allowed change of a target: from any of `sources` to `dest` (None: state kept)."""

    name: str
    sources: tuple[TargetState, ...]  # () for the row's creation
    dest: TargetState | None
    facts: str  # what the transition needs to know (for the design notes)
    # Only while the leg's call is live (`call_ended_at` unset): the controller's moves out of
    # an ended state. Once the call is over an ended target is final.
    live_call: bool = False


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
# The controller, while the call is live (issue 17): nothing is final before the call ends.
REPLACED = Transition(
    "replaced",
    NO_MEDIA_STATES,
    "pending",
    "the call is live and fewer replacements ran than the cap; the next start's due time",
    live_call=True,
)
STOPPED_BY_OTHER = Transition(
    "stopped_by_other",
    ("completed",),
    "stopped",
    "the call was live when its recording completed: another API client stopped it",
    live_call=True,
)
READOPTED = Transition(
    "readopted",
    ("stopped",),
    "recording",
    "the call is live and a dual call recording runs on it again (whoever stopped it restarted)",
    live_call=True,
)
REPLACEMENT_WISHED = Transition(
    "replacement_wished",
    NO_MEDIA_STATES,
    None,
    "a pause or resume asked while its recording, ended without media, awaits its replacement: "
    "a pause holds the replacement, a resume frees it",
    live_call=True,
)
GAVE_UP = Transition(
    "gave_up",
    NO_MEDIA_STATES,
    None,
    "the replacement cap reached while the call is live",
    live_call=True,
)
LEG_OVER = Transition(
    "leg_over", _ANY, None, "the call ended (a status callback, or Twilio's answer)"
)

TRANSITIONS: Final[tuple[Transition, ...]] = (
    PLANNED, CLAIMED, STARTED, STARTED_PAUSED, RETRY_DUE, START_REFUSED, CALL_OVER_AT_START,
    REAPED, CALL_OVER, REPORTED_RUNNING, REPORTED_COMPLETED, REPORTED_ABSENT, REPORTED_FAILED,
    PAUSED, RESUMED, CALL_OVER_LIVE, PAUSE_WISHED, WISH_CLEARED, IDENTIFIED, TOUCHED,
    REPLACED, STOPPED_BY_OTHER, READOPTED, REPLACEMENT_WISHED, GAVE_UP, LEG_OVER,
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
    lines += [f"    {state} --> [*]: call over" for state in ENDED_STATES]
    lines += ["```", "", "| transition | from | to | facts it needs |", "|---|---|---|---|"]
    for t in TRANSITIONS:
        sources = ", ".join(t.sources) if t.sources else "(new row)"
        if t.sources == _ANY:
            sources = "any"
        facts = f"{t.facts} (only while the call is live)" if t.live_call else t.facts
        lines.append(f"| `{t.name}` | {sources} | {t.dest or '(unchanged)'} | {facts} |")
    return "\n".join(lines) + "\n"


def _in(transition: Transition) -> Any:
    """The SQL condition of leaving one of `transition`'s sources (and, for the controller's
    moves, of the call being live as far as we know)."""
    condition = RecordingTarget.state.in_(transition.sources)
    if transition.live_call:
        return and_(condition, RecordingTarget.call_ended_at.is_(None))
    return condition


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
_LAST_WORD = (
    select(PauseEvent.action, PauseEvent.result, PauseEvent.actor, PauseEvent.worker_sid)
    .where(PauseEvent.task_sid == bindparam("task_sid"))
    .where(PauseEvent.result.in_(_WISH_RESULTS))
    .order_by(PauseEvent.id.desc())
    .limit(1)
)


def task_pause_wish(session: Session, task_sid: str) -> PauseWish | None:
    """A pause asked for the task that no resume followed, or None: a recording started on any
    of the task's legs from now on starts paused (asked before its leg was even known)."""
    row = session.connection().execute(_LAST_WORD, {"task_sid": task_sid}).first()
    if row is None or row.action != "pause":
        return None
    return PauseWish(str(row.actor), row.worker_sid)


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
    # A new leg of a task the agent paused starts paused (the pause came before the leg was
    # found: an outbound call still ringing, a leg search still running).
    wish = task_pause_wish(session, task_sid)
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
) -> tuple[bool, str | None, int]:
    """`started` (or `started_paused`) while our claim holds; else, when a status callback or a
    reclaim got there first, `identified`: its state kept, only what it could not know filled
    in. Returns (claim still held, the pause wish on the target, replacements so far)."""
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
        return True, cast(str | None, released.desired_state), int(released.replacements)
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
def call_over(session: Executor, call_sid: str, call_status: str, now: datetime) -> None:
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
        .where(RecordingTarget.id == target_id, _in(transition))
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


# -- the controller, while the call is live ------------------------------------------------------
def leg_over(session: Executor, call_sid: str, now: datetime) -> None:
    """`leg_over`: the leg's call ended; its ended targets are final from now on."""
    session.execute(
        update(RecordingTarget)
        .where(
            RecordingTarget.call_sid == call_sid,
            _in(LEG_OVER),
            RecordingTarget.call_ended_at.is_(None),
        )
        .values(call_ended_at=now)
        .execution_options(synchronize_session=False)
    )


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
            _in(REPLACED),
            RecordingTarget.replacements < cap,
        )
        .values(
            **_to(REPLACED),
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
        .where(RecordingTarget.id == target_id, _in(GAVE_UP))
        .where(or_(RecordingTarget.last_error.is_(None), RecordingTarget.last_error != error))
        .values(last_error=error, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


def stopped_by_other(session: Session, target_id: int, now: datetime) -> bool:
    """`stopped_by_other`: its recording completed while the call went on; respected."""
    result: Any = session.execute(
        update(RecordingTarget)
        .where(RecordingTarget.id == target_id, _in(STOPPED_BY_OTHER))
        .values(**_to(STOPPED_BY_OTHER), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


def readopt(session: Session, target_id: int, recording: StartedRecording, now: datetime) -> bool:
    """`readopted`: a stopped leg records again with a recording someone else started."""
    result: Any = session.execute(
        update(RecordingTarget)
        .where(RecordingTarget.id == target_id, _in(READOPTED))
        .values(
            **_to(READOPTED),
            recording_sid=recording.recording_sid,
            source=recording.source,
            start_time_ms=recording.start_time_ms,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)

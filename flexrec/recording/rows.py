"""How each row the service keeps takes in new facts: one merge rule per row, all here.

Events come twice, late or out of order, so no row is simply overwritten:
- a task keeps the newest event's facts (by TaskRouter timestamp); legs, once known, never change;
- a reservation's status only moves forward;
- a recording's identity (leg, target, start, channels, track, source) is fixed by the first
  report that carries it; its outcome (status, forward only; duration, error, media URL) follows
  the latest report that carries it.

Targets are not here: flexrec.recording.transitions is their one writer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from flexrec.db.models import HoldEvent, RecordingRecord, ReservationRecord, TaskRecord
from flexrec.db.prepared import Prepared, attached
from flexrec.recording.attributes import attribute_facts
from flexrec.recording.states import (
    ACTIVE_RESERVATION_STATUSES,
    OPEN_RESERVATION_STATUSES,
    RECORDING_OUTCOMES,
    RESERVATION_STATUS,
    TERMINAL_TASK_STATUSES,
    WORK_ENDED_RESERVATION_STATUSES,
    reservation_moves_to,
)
from flexrec.recording.store import (
    Executor,
    insert_ignore,
    insert_new,
    insert_returning,
    upsert_participant,
)
from flexrec.twilio.gateway import RecordingInfo, ReservationInfo, recording_media_url
from flexrec.webhooks.events import ConferenceEvent, RecordingStatusEvent, TaskRouterEvent

HOLD_EVENTS = {"participant-hold": True, "participant-unhold": False}


def task_for_update(session: Session, task_sid: str) -> TaskRecord | None:
    """The task row, locked (FOR UPDATE on PostgreSQL; SQLite's write lock is the
    transaction's), as an object of the session: read with a prepared statement
    (flexrec.db.prepared) and attached, which costs a fraction of the ORM's load."""
    row = _TASK_FOR_UPDATE.execute(session, {"sid": task_sid}).first()
    return attached(session, TaskRecord, row._asdict()) if row is not None else None


_TASK_FOR_UPDATE = Prepared(
    select(*TaskRecord.__table__.columns)
    .where(TaskRecord.sid == bindparam("sid"))
    .with_for_update()
)
_TASK_INSERT = Prepared(
    lambda dialect: insert_returning(dialect, TaskRecord.__table__, ("sid",), (TaskRecord.sid,))
)


def _reservation_for_update(session: Session, reservation_sid: str) -> ReservationRecord | None:
    return session.scalars(
        select(ReservationRecord).where(ReservationRecord.sid == reservation_sid).with_for_update()
    ).first()


# -- tasks ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskFields:
    """What a TaskRouter event or a fetched task says about a task's columns."""

    attributes: dict[str, Any] | None
    status: str | None
    queue_sid: str | None
    queue_name: str | None
    workflow_sid: str | None
    workflow_name: str | None
    channel: str | None


@dataclass(frozen=True)
class TaskState:
    """The columns of a task row its merge rule reads and writes (attributes by presence)."""

    has_attributes: bool = False
    status: str | None = None
    queue_sid: str | None = None
    queue_name: str | None = None
    workflow_sid: str | None = None
    workflow_name: str | None = None
    channel: str | None = None
    last_event_ms: int | None = None
    direction: str | None = None
    conference_sid: str | None = None
    customer_call_sid: str | None = None

    @classmethod
    def of(cls, task: TaskRecord) -> TaskState:
        """The state of a loaded task row."""
        return cls(
            task.attributes is not None, task.status, task.queue_sid, task.queue_name,
            task.workflow_sid, task.workflow_name, task.channel, task.last_event_ms,
            task.direction, task.conference_sid, task.customer_call_sid,
        )  # fmt: skip


_SCALARS = ("queue_sid", "queue_name", "workflow_sid", "workflow_name", "channel")


def merge_task(
    current: TaskState, fields: TaskFields, event_ms: int, forced_status: str | None = None
) -> tuple[TaskState, bool]:
    """THE merge rule of a task row: (its new state, whether the event's attributes are taken).

    The newest event's facts win (by TaskRouter timestamp); a terminal status sticks; legs,
    once known, never change, so even an older event may teach them. `forced_status`: the
    status the event's type itself means (task.canceled, task.deleted)."""
    newer = current.last_event_ms is None or event_ms >= current.last_event_ms
    take_attributes = fields.attributes is not None and (newer or not current.has_attributes)
    status = current.status
    if fields.status and (
        fields.status in TERMINAL_TASK_STATUSES
        or (status not in TERMINAL_TASK_STATUSES and (newer or status is None))
    ):
        status = fields.status
    status = forced_status or status
    given = (fields.queue_sid, fields.queue_name, fields.workflow_sid, fields.workflow_name,
             fields.channel)  # fmt: skip
    scalars = {}
    for name, value in zip(_SCALARS, given, strict=True):
        kept = getattr(current, name)
        scalars[name] = value if value and (newer or kept is None) else kept
    facts = attribute_facts(fields.attributes)
    merged = TaskState(
        has_attributes=current.has_attributes or take_attributes,
        status=status,
        last_event_ms=event_ms if newer else current.last_event_ms,
        direction=current.direction or facts.direction,
        conference_sid=current.conference_sid or facts.conference_sid,
        customer_call_sid=current.customer_call_sid or facts.customer_call_sid,
        **scalars,
    )
    return merged, take_attributes


def upsert_task(
    session: Session,
    task_sid: str,
    fields: TaskFields,
    *,
    now: datetime,
    event_ms: int,
    forced_status: str | None = None,
    held_clock: int | None = None,
    likely_new: bool = False,
) -> TaskRecord:
    """The task row, locked and created if missing, with the facts of an event at `event_ms`.

    `held_clock`: a newer clock than the row's that this process held without writing it
    (flexrec.recording.task_memo): the event is ordered against it, and the row takes it.
    `likely_new`: the event usually comes first (task.created): the row is inserted with its
    facts in one statement before looking for it."""
    if likely_new:
        task = _insert_task(session, task_sid, fields, now, event_ms, forced_status)
        if task is not None:
            return task
    task = task_for_update(session, task_sid)
    if task is None:
        task = _insert_task(session, task_sid, fields, now, event_ms, forced_status)
        if task is not None:
            return task
        task = task_for_update(session, task_sid)  # another webhook inserted it first
        if task is None:  # pragma: no cover - inserted by us or by the webhook that won
            raise RuntimeError(f"task {task_sid} vanished")
    current = TaskState.of(task)
    if held_clock is not None and (current.last_event_ms or 0) < held_clock:
        current = replace(current, last_event_ms=held_clock)
    merged, take_attributes = merge_task(current, fields, event_ms, forced_status)
    if take_attributes:
        task.attributes = fields.attributes
    for name, value in vars(merged).items():
        if name != "has_attributes" and getattr(task, name) != value:
            setattr(task, name, value)
    task.updated_at = now
    return task


def _insert_task(
    session: Session,
    task_sid: str,
    fields: TaskFields,
    now: datetime,
    event_ms: int,
    forced_status: str | None,
) -> TaskRecord | None:
    """A task first seen, inserted with the event's facts (its merge over an empty row) and
    attached to the session; None if its row exists."""
    merged, take_attributes = merge_task(TaskState(), fields, event_ms, forced_status)
    values: dict[str, Any] = {n: v for n, v in vars(merged).items() if n != "has_attributes"}
    values.update(
        sid=task_sid,
        attributes=fields.attributes if take_attributes else None,
        policy_decision=None,
        recording_sid=None,
        created_at=now,
        updated_at=now,
    )
    if _TASK_INSERT.execute(session, values).first() is None:
        return None
    return attached(session, TaskRecord, values)


# -- reservations -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ReservationState:
    """The columns of a reservation row its merge rule reads and writes."""

    status: str
    worker_sid: str | None = None
    worker_name: str | None = None
    accepted_ms: int | None = None
    last_event_ms: int | None = None
    ended_ms: int | None = None

    @classmethod
    def of(cls, row: ReservationRecord) -> ReservationState:
        """The state of a loaded reservation row."""
        return cls(
            row.status, row.worker_sid, row.worker_name, row.accepted_ms, row.last_event_ms,
            row.ended_ms,
        )  # fmt: skip


def merge_reservation(current: ReservationState | None, event: TaskRouterEvent) -> ReservationState:
    """THE merge rule of a reservation row: its status only moves forward (a late `accepted`
    never reopens a completed one); its worker, once known, stays; the agent left the call
    when their work on it first ended (wrap-up, usually): the earliest such event wins,
    whatever order they were delivered in."""
    status = RESERVATION_STATUS.get(event.event_type)
    if current is None:
        current = ReservationState(status or "pending")
    new_status = current.status
    if status is not None and reservation_moves_to(current.status, status):
        new_status = status
    accepted_ms = current.accepted_ms
    if status == "accepted" and accepted_ms is None:
        accepted_ms = event.timestamp_ms
    ended_ms = current.ended_ms
    if status in WORK_ENDED_RESERVATION_STATUSES and (
        ended_ms is None or event.timestamp_ms < ended_ms
    ):
        ended_ms = event.timestamp_ms
    return ReservationState(
        status=new_status,
        worker_sid=current.worker_sid or event.worker_sid,
        worker_name=current.worker_name or event.worker_name,
        accepted_ms=accepted_ms,
        last_event_ms=max(current.last_event_ms or 0, event.timestamp_ms),
        ended_ms=ended_ms,
    )


def upsert_reservation(session: Session, event: TaskRouterEvent, now: datetime) -> None:
    """The event's reservation row, created if missing, its status moved forward."""
    reservation_sid = event.reservation_sid
    if reservation_sid is None or event.task_sid is None:
        return
    row = _reservation_for_update(session, reservation_sid)
    if row is None:
        fresh = {
            "sid": reservation_sid,
            "task_sid": event.task_sid,
            "status": merge_reservation(None, event).status,
            "updated_at": now,
        }
        row = insert_new(session, ReservationRecord, fresh, ["sid"]) or _reservation_for_update(
            session, reservation_sid
        )
        if row is None:  # pragma: no cover - inserted by us or by the webhook that won
            raise RuntimeError(f"reservation {reservation_sid} vanished")
    for name, value in vars(merge_reservation(ReservationState.of(row), event)).items():
        if getattr(row, name) != value:
            setattr(row, name, value)
    row.updated_at = now


def merge_reservation_info(
    row: ReservationRecord, info: ReservationInfo, now: datetime, now_ms: int
) -> None:
    """Take in what TaskRouter's reservation list says (a catch-up after lost webhooks)."""
    row.worker_sid = row.worker_sid or info.worker_sid
    if reservation_moves_to(row.status, info.status):
        row.status = info.status
    if row.status in ACTIVE_RESERVATION_STATUSES and row.accepted_ms is None:
        row.accepted_ms = now_ms  # approximate: TaskRouter does not say when
    row.updated_at = now


# -- conference participants ------------------------------------------------------------------
def upsert_participant_event(executor: Executor, event: ConferenceEvent, now: datetime) -> None:
    """Apply a participant callback to the conference leg's row (one statement); a hold or
    unhold is also kept with its time (`hold_events`), for the console's timeline."""
    if event.call_sid is None:
        return
    if event.event in HOLD_EVENTS and event.timestamp is not None:
        insert_ignore(
            executor,
            HoldEvent,
            {
                "conference_sid": event.conference_sid,
                "call_sid": event.call_sid,
                "hold": HOLD_EVENTS[event.event],
                "at_ms": event.timestamp,
            },
            ["call_sid", "at_ms", "hold"],
        )
    upsert_participant(
        executor,
        event.event,
        {
            "conference_sid": event.conference_sid,
            "friendly_name": event.friendly_name,
            "call_sid": event.call_sid,
            "label": event.participant_label,
            "joined": event.event != "participant-leave",
            "hold": HOLD_EVENTS.get(event.event, bool(event.hold)),
            "updated_at": now,
        },
    )


def assign_worker_call(session: Session, task_sid: str, call_sid: str) -> None:
    """Give a worker leg to the newest accepted reservation of the task that has none."""
    reservations = session.scalars(
        select(ReservationRecord)
        .where(ReservationRecord.task_sid == task_sid)
        .order_by(ReservationRecord.accepted_ms.desc().nulls_last())
    ).all()
    if any(r.worker_call_sid == call_sid for r in reservations):
        return
    for reservation in reservations:
        if reservation.status in OPEN_RESERVATION_STATUSES and reservation.worker_call_sid is None:
            reservation.worker_call_sid = call_sid
            return


# -- recordings -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RecordingFacts:
    """What one report of a recording says: a status callback or a Twilio API answer."""

    sid: str
    call_sid: str | None
    status: str
    start_time_ms: int | None
    duration_s: int | None
    channels: int | None
    track: str | None
    source: str | None
    error_code: int | None
    url: str | None = None

    @classmethod
    def of_event(cls, event: RecordingStatusEvent) -> RecordingFacts:
        """The facts of a status callback."""
        return cls(
            event.recording_sid, event.call_sid, event.status, event.start_time_ms,
            event.duration_s, event.channels, event.track, event.source, event.error_code,
            event.url,
        )  # fmt: skip

    @classmethod
    def of_info(cls, info: RecordingInfo) -> RecordingFacts:
        """The facts of a recording as the Recordings API reports it."""
        return cls(
            info.sid, info.call_sid, info.status, info.start_time_ms, info.duration_s,
            info.channels, info.track, info.source, info.error_code,
        )  # fmt: skip


def merge_recording_row(
    row: RecordingRecord,
    facts: RecordingFacts,
    target_id: int | None,
    account_sid: str,
    now: datetime,
) -> None:
    """THE merge rule of a recordings row (see the module docstring), for every writer."""
    if row.status not in RECORDING_OUTCOMES or facts.status in RECORDING_OUTCOMES:
        row.status = facts.status  # forward only: a late in-progress never reopens an outcome
    # Identity: the first report that carries a fact fixes it.
    row.call_sid = row.call_sid or facts.call_sid
    row.target_id = row.target_id or target_id
    row.start_time_ms = row.start_time_ms or facts.start_time_ms
    row.channels = row.channels or facts.channels
    row.track = row.track or facts.track
    row.source = row.source or facts.source
    # Outcome: the latest report that carries a fact.
    if facts.duration_s is not None:
        row.duration_s = facts.duration_s
    row.error_code = facts.error_code or row.error_code
    if facts.url:
        row.media_url = facts.url
    elif row.media_url is None:
        row.media_url = recording_media_url(account_sid, row.sid)
    if facts.status in RECORDING_OUTCOMES and row.completed_at is None:
        row.completed_at = now
    row.updated_at = now


_RECORDING_COLUMNS = tuple(column.key for column in RecordingRecord.__table__.columns)


def new_recording_row(
    facts: RecordingFacts, target_id: int | None, account_sid: str, now: datetime
) -> dict[str, Any]:
    """The recordings row of a recording first reported by `facts` (same rule, empty start)."""
    # A plain object with the row's columns (all unset) takes the merge: an ORM object's
    # instrumented attributes cost more than the merge itself on every start.
    row = SimpleNamespace(**dict.fromkeys(_RECORDING_COLUMNS))
    row.sid, row.status, row.created_at = facts.sid, facts.status, now
    merge_recording_row(cast(RecordingRecord, row), facts, target_id, account_sid, now)
    return vars(row)


def store_recording(
    session: Session,
    facts: RecordingFacts,
    target_id: int | None,
    account_sid: str,
    now: datetime,
) -> RecordingRecord:
    """The recording's row, created if missing, with `facts` merged in."""
    row = session.get(RecordingRecord, facts.sid)
    if row is None:
        row = RecordingRecord(sid=facts.sid, status=facts.status, created_at=now)
        session.add(row)
    merge_recording_row(row, facts, target_id, account_sid, now)
    return row


def mark_recording_end(session: Session, recording_sid: str | None, *, live: bool) -> None:
    """Note whether the recording's call was still live when it ended (first answer wins)."""
    if recording_sid is None:
        return
    row = session.get(RecordingRecord, recording_sid)
    if row is not None and row.ended_while_live is None:
        row.ended_while_live = live

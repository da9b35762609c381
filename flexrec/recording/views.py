"""Plain read models for the admin API and the archive hand-off, and the queries behind them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from flexrec.db.models import AttributeWrite, RecordingRecord, RecordingTarget, TaskRecord
from flexrec.db.prepared import Prepared

MAX_PAGE = 500


@dataclass(frozen=True)
class RecordingView:
    """A recording with the tasks it is linked to."""

    sid: str
    call_sid: str | None
    status: str
    leg: str | None
    start_time_ms: int | None
    duration_s: int | None
    channels: int | None
    track: str | None
    source: str | None
    media_url: str | None
    error_code: int | None
    completed_at: datetime | None
    created_at: datetime
    task_sids: tuple[str, ...]
    reservation_sid: str | None = None
    channel_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskView:
    """A task as the service saw it, with its recording."""

    sid: str
    direction: str | None
    queue_name: str | None
    status: str | None
    customer_call_sid: str | None
    recording_sid: str | None
    recording_state: str | None
    policy_decision: str | None
    created_at: datetime
    updated_at: datetime


# Read for every completed recording, inside its status webhook (prepared: flexrec.db.prepared).
_TASKS_OF_TARGET = Prepared(
    select(AttributeWrite.task_sid)
    .where(AttributeWrite.target_id == bindparam("t"))
    .order_by(AttributeWrite.id)
)


def _recording_view(session: Session, row: RecordingRecord) -> RecordingView:
    target = session.get(RecordingTarget, row.target_id) if row.target_id else None
    tasks: tuple[str, ...] = ()
    if target is not None:
        tasks = tuple(row.task_sid for row in _TASKS_OF_TARGET.execute(session, {"t": target.id}))
    leg = target.leg if target else None
    return RecordingView(
        sid=row.sid,
        call_sid=row.call_sid,
        status=row.status,
        leg=leg,
        start_time_ms=row.start_time_ms,
        duration_s=row.duration_s,
        channels=row.channels,
        track=row.track,
        source=row.source,
        media_url=row.media_url,
        error_code=row.error_code,
        completed_at=row.completed_at,
        created_at=row.created_at,
        task_sids=tasks,
        reservation_sid=target.reservation_sid if target else None,
        channel_labels=(target.channel_labels if target else None) or (),
    )


def recording_view(session: Session, recording_sid: str) -> RecordingView | None:
    """One recording's view, or None."""
    row = session.get(RecordingRecord, recording_sid)
    return _recording_view(session, row) if row is not None else None


def _page(stmt: Select[Any], limit: int, offset: int) -> Select[Any]:
    return stmt.limit(max(1, min(limit, MAX_PAGE))).offset(max(0, offset))


def _where_task(
    stmt: Select[Any], direction: str | None, queue: str | None, task_sid: str | None
) -> Select[Any]:
    """Narrow a statement over tasks to a direction, a queue (by name or SID) and a task."""
    if direction:
        stmt = stmt.where(TaskRecord.direction == direction)
    if queue:
        stmt = stmt.where((TaskRecord.queue_name == queue) | (TaskRecord.queue_sid == queue))
    if task_sid:
        stmt = stmt.where(TaskRecord.sid == task_sid)
    return stmt


def list_recordings(
    session: Session,
    *,
    status: str | None = None,
    direction: str | None = None,
    queue: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    task_sid: str | None = None,
    call_sid: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[RecordingView]:
    """Recordings, newest first; task filters (direction, queue, task_sid) match any linked task."""
    stmt = select(RecordingRecord)
    if status:
        stmt = stmt.where(RecordingRecord.status == status)
    if call_sid:
        stmt = stmt.where(RecordingRecord.call_sid == call_sid)
    if since:
        stmt = stmt.where(RecordingRecord.created_at >= since)
    if until:
        stmt = stmt.where(RecordingRecord.created_at < until)
    if direction or queue or task_sid:
        linked = select(AttributeWrite.target_id).join(
            TaskRecord, TaskRecord.sid == AttributeWrite.task_sid
        )
        linked = _where_task(linked, direction, queue, task_sid)
        stmt = stmt.where(RecordingRecord.target_id.in_(linked))
    stmt = _page(
        stmt.order_by(RecordingRecord.created_at.desc(), RecordingRecord.sid), limit, offset
    )
    return [_recording_view(session, row) for row in session.scalars(stmt).all()]


def list_tasks(
    session: Session,
    *,
    status: str | None = None,
    direction: str | None = None,
    queue: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    task_sid: str | None = None,
    call_sid: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[TaskView]:
    """Tasks, newest first, with the state of the recording linked to each."""
    stmt = select(TaskRecord)
    if status:
        stmt = stmt.where(TaskRecord.status == status)
    stmt = _where_task(stmt, direction, queue, task_sid)
    if since:
        stmt = stmt.where(TaskRecord.created_at >= since)
    if until:
        stmt = stmt.where(TaskRecord.created_at < until)
    if call_sid:
        stmt = stmt.where(TaskRecord.customer_call_sid == call_sid)
    stmt = _page(stmt.order_by(TaskRecord.created_at.desc(), TaskRecord.sid), limit, offset)
    views: list[TaskView] = []
    for task in session.scalars(stmt).all():
        target = session.scalars(
            select(RecordingTarget)
            .join(AttributeWrite, AttributeWrite.target_id == RecordingTarget.id)
            .where(AttributeWrite.task_sid == task.sid)
            .order_by(RecordingTarget.id.desc())
        ).first()
        views.append(
            TaskView(
                sid=task.sid,
                direction=task.direction,
                queue_name=task.queue_name,
                status=task.status,
                customer_call_sid=task.customer_call_sid,
                recording_sid=target.recording_sid if target else task.recording_sid,
                recording_state=target.state if target else None,
                policy_decision=task.policy_decision,
                created_at=task.created_at,
                updated_at=task.updated_at,
            )
        )
    return views

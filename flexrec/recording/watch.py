"""A cheap summary of what a task's agent-API state depends on, for the agent API's long poll.

A full state read authorises, finds the target and looks up who paused (several ORM reads). A
long poll re-checks every second for each watching agent, so it first compares this
fingerprint (one statement over indexed columns, plain rows) and does the full read only when
the fingerprint moved. Equal fingerprints must mean an equal state: every column `state` reads
is in it (who paused comes with the target's `updated_at`, which every pause moves, and the
task's newest pause row); anything else that moves only costs one extra full read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from flexrec.db.models import (
    AttributeWrite,
    PauseEvent,
    RecordingTarget,
    ReservationRecord,
    TaskRecord,
)
from flexrec.recording.states import TERMINAL_TASK_STATUSES


def _count_held(task_sid: str, worker_sid: str | None, statuses: tuple[str, ...]) -> Any:
    return (
        select(func.count(ReservationRecord.sid))
        .where(ReservationRecord.task_sid == task_sid)
        .where(ReservationRecord.worker_sid == worker_sid)
        .where(ReservationRecord.status.in_(statuses))
        .scalar_subquery()
    )


def state_fingerprint(session: Session, task_sid: str, worker_sid: str | None) -> tuple[Any, ...]:
    """Everything a task's state (as `worker_sid` sees it) is computed from, as plain values."""
    last_pause = (
        select(func.max(PauseEvent.id))
        .where(PauseEvent.task_sid == task_sid)
        .where(PauseEvent.action == "pause", PauseEvent.result == "paused")
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            TaskRecord.status,
            TaskRecord.policy_decision,
            _count_held(task_sid, worker_sid, ("accepted",)),
            _count_held(task_sid, worker_sid, ("wrapping", "completed")),
            last_pause,
            RecordingTarget.id,
            RecordingTarget.state,
            RecordingTarget.recording_sid,
            RecordingTarget.call_sid,
            RecordingTarget.reservation_sid,
            RecordingTarget.start_time_ms,
            RecordingTarget.last_error,
            RecordingTarget.desired_state,
            RecordingTarget.desired_by,
            RecordingTarget.updated_at,
        )
        .select_from(TaskRecord)
        .outerjoin(AttributeWrite, AttributeWrite.task_sid == TaskRecord.sid)
        .outerjoin(RecordingTarget, and_(RecordingTarget.id == AttributeWrite.target_id))
        .where(TaskRecord.sid == task_sid)
        .order_by(RecordingTarget.id)
    ).all()
    return tuple(tuple(row) for row in rows)


def task_is_live(sessions: Callable[[], Session], task_sid: str) -> bool:
    """True when the task is known here and its work is not over (completed, canceled,
    deleted): what a stranger inventing task SIDs cannot name."""
    with sessions() as session:
        status = session.execute(
            select(TaskRecord.status).where(TaskRecord.sid == task_sid)
        ).first()
    return status is not None and status[0] not in TERMINAL_TASK_STATUSES

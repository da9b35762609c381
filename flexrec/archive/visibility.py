"""Who may hear a recording: the one rule the console, the media-URL routes and the Insights
`url_provider` all apply (the archive's `Access.may_access` and the console's queries).

Supervisors and admins hear every recording. An agent hears a recording when the archive row
names their worker SID, or when they held a reservation (accepted, then wrapping or completed)
of a task the recording belongs to: the task that started it, or one it was linked into by a
transfer. Nothing else counts: names and identities are not unique and an agent may change
them, so they never grant access.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from flexrec.archive.models import ArchivedRecording
from flexrec.db.models import AttributeWrite, RecordingTarget, ReservationRecord, TaskRecord

SEES_EVERYTHING = frozenset({"supervisor", "admin"})
"""Roles that may hear every recording."""
TAKEN_RESERVATION_STATUSES = ("accepted", "wrapping", "completed")
"""Reservation statuses that mean the worker took the task."""


def sees_everything(roles: Iterable[str]) -> bool:
    """True for supervisors and admins."""
    return bool(SEES_EVERYTHING.intersection(roles))


def visibility_clause(worker_sid: str | None, roles: Iterable[str]) -> ColumnElement[bool]:
    """SQL condition on `ArchivedRecording` selecting what this caller may hear."""
    if sees_everything(roles):
        return literal(True)
    if not worker_sid:
        return literal(False)
    taken = (
        ReservationRecord.worker_sid == worker_sid,
        ReservationRecord.status.in_(TAKEN_RESERVATION_STATUSES),
    )
    via_target = exists(
        select(1)
        .select_from(RecordingTarget)
        .join(ReservationRecord, ReservationRecord.task_sid == RecordingTarget.task_sid)
        .where(RecordingTarget.recording_sid == ArchivedRecording.recording_sid, *taken)
    )
    via_task = exists(
        select(1)
        .select_from(TaskRecord)
        .join(ReservationRecord, ReservationRecord.task_sid == TaskRecord.sid)
        .where(TaskRecord.recording_sid == ArchivedRecording.recording_sid, *taken)
    )
    # A transfer links the same recording into further tasks through attribute writes.
    via_link = exists(
        select(1)
        .select_from(RecordingTarget)
        .join(AttributeWrite, AttributeWrite.target_id == RecordingTarget.id)
        .join(ReservationRecord, ReservationRecord.task_sid == AttributeWrite.task_sid)
        .where(RecordingTarget.recording_sid == ArchivedRecording.recording_sid, *taken)
    )
    return or_(ArchivedRecording.worker_sid == worker_sid, via_target, via_task, via_link)


def may_hear(
    session: Session, recording_sid: str, worker_sid: str | None, roles: Iterable[str]
) -> bool:
    """True when this caller may hear the archived recording `recording_sid` (supervisors: any,
    even one not archived, so they learn it is missing rather than forbidden)."""
    roles = tuple(roles)
    if sees_everything(roles):
        return True
    count = session.scalar(
        select(func.count())
        .select_from(ArchivedRecording)
        .where(
            ArchivedRecording.recording_sid == recording_sid,
            visibility_clause(worker_sid, roles),
        )
    )
    return bool(count)

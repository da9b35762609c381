"""Reads what the recording service stored about a call (task, queue, agent, leg) for the archive.

Only reads CORE's tables (`flexrec.db.models`); the recording service never imports the archive.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flexrec.archive.rows import ContextProvider, RecordingContext
from flexrec.db.models import (
    AttributeWrite,
    RecordingRecord,
    RecordingTarget,
    ReservationRecord,
    TaskRecord,
)


def db_context_provider(sessions: sessionmaker[Session]) -> ContextProvider:
    """A context provider that looks the recording up in the recording service's tables."""

    def provide(recording_sid: str, call_sid: str | None) -> RecordingContext | None:
        with sessions() as session:
            return lookup_context(session, recording_sid, call_sid)

    return provide


def lookup_context(
    session: Session, recording_sid: str, call_sid: str | None
) -> RecordingContext | None:
    """Task SIDs, queue, direction, agent and channel labels of one recording, if known."""
    target = _target_for(session, recording_sid, call_sid)
    if target is None:
        return None
    task_sids = [target.task_sid]
    # A transfer links the same recording into further tasks through attribute writes.
    for task_sid in session.scalars(
        select(AttributeWrite.task_sid).where(AttributeWrite.target_id == target.id)
    ):
        if task_sid not in task_sids:
            task_sids.append(task_sid)
    task = session.get(TaskRecord, target.task_sid)
    reservation = _reservation_for(session, target)
    attributes: dict[str, Any] = dict(task.attributes or {}) if task else {}
    direction = (task.direction if task else None) or _str(attributes.get("direction"))
    if direction == "outbound":
        customer = _str(attributes.get("outbound_to")) or _str(attributes.get("to"))
    else:
        customer = _str(attributes.get("from")) or _str(attributes.get("caller"))
    return RecordingContext(
        task_sids=tuple(task_sids),
        queue_name=task.queue_name if task else None,
        direction=direction,
        worker_sid=reservation.worker_sid if reservation else None,
        agent_identity=reservation.worker_name if reservation else None,
        customer_number=customer,
        channel_labels=target.channel_labels,
    )


def _target_for(
    session: Session, recording_sid: str, call_sid: str | None
) -> RecordingTarget | None:
    record = session.get(RecordingRecord, recording_sid)
    if record is not None and record.target_id is not None:
        found = session.get(RecordingTarget, record.target_id)
        if found is not None:
            return found
    by_sid = session.scalars(
        select(RecordingTarget).where(RecordingTarget.recording_sid == recording_sid).limit(1)
    ).first()
    if by_sid is not None or call_sid is None:
        return by_sid
    return session.scalars(
        select(RecordingTarget)
        .where(RecordingTarget.call_sid == call_sid)
        .order_by(RecordingTarget.id)
        .limit(1)
    ).first()


def _reservation_for(session: Session, target: RecordingTarget) -> ReservationRecord | None:
    if target.reservation_sid:
        found = session.get(ReservationRecord, target.reservation_sid)
        if found is not None:
            return found
    # The customer leg outlives transfers: the first agent who accepted owns the call.
    return session.scalars(
        select(ReservationRecord)
        .where(
            ReservationRecord.task_sid == target.task_sid,
            ReservationRecord.accepted_ms.is_not(None),
        )
        .order_by(ReservationRecord.accepted_ms)
        .limit(1)
    ).first()


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None

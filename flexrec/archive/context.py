"""Reads what the recording service stored about a call (task, queue, agent, leg) for the archive.

Only reads CORE's tables (`flexrec.db.models`); the recording service never imports the archive.
Every archive job asks once, so the reads are prepared statements (flexrec.db.prepared): the
ORM's load of each row cost several times the statement.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from flexrec.archive.rows import ContextProvider, RecordingContext
from flexrec.db.models import (
    CHANNEL_LABELS,
    AttributeWrite,
    RecordingRecord,
    RecordingTarget,
    ReservationRecord,
    TaskRecord,
)
from flexrec.db.prepared import Prepared

_TARGET = select(
    RecordingTarget.id,
    RecordingTarget.task_sid,
    RecordingTarget.reservation_sid,
    RecordingTarget.leg,
)
# The leg the recording service linked the recording to, else one that names it, else the
# first target of its call.
_TARGET_OF_RECORD = Prepared(
    _TARGET.join(RecordingRecord, RecordingRecord.target_id == RecordingTarget.id).where(
        RecordingRecord.sid == bindparam("recording_sid")
    )
)
_TARGET_NAMING = Prepared(
    _TARGET.where(RecordingTarget.recording_sid == bindparam("recording_sid")).limit(1)
)
_FIRST_TARGET_OF_CALL = Prepared(
    _TARGET.where(RecordingTarget.call_sid == bindparam("call_sid"))
    .order_by(RecordingTarget.id)
    .limit(1)
)
_LINKED_TASKS = Prepared(
    select(AttributeWrite.task_sid).where(AttributeWrite.target_id == bindparam("target_id"))
)
_TASK = Prepared(
    select(TaskRecord.direction, TaskRecord.queue_name, TaskRecord.attributes).where(
        TaskRecord.sid == bindparam("task_sid")
    )
)
_AGENT = select(ReservationRecord.worker_sid, ReservationRecord.worker_name)
_RESERVATION = Prepared(_AGENT.where(ReservationRecord.sid == bindparam("reservation_sid")))
# The customer leg outlives transfers: the first agent who accepted owns the call.
_FIRST_ACCEPTED = Prepared(
    _AGENT.where(
        ReservationRecord.task_sid == bindparam("task_sid"),
        ReservationRecord.accepted_ms.is_not(None),
    )
    .order_by(ReservationRecord.accepted_ms)
    .limit(1)
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
    for (task_sid,) in _LINKED_TASKS.execute(session, {"target_id": target.id}):
        if task_sid not in task_sids:
            task_sids.append(task_sid)
    task = _TASK.execute(session, {"task_sid": target.task_sid}).first()
    reservation = None
    if target.reservation_sid:
        reservation = _RESERVATION.execute(
            session, {"reservation_sid": target.reservation_sid}
        ).first()
    if reservation is None:
        reservation = _FIRST_ACCEPTED.execute(session, {"task_sid": target.task_sid}).first()
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
        channel_labels=CHANNEL_LABELS.get(target.leg),
    )


def _target_for(session: Session, recording_sid: str, call_sid: str | None) -> Any:
    """The recording's target row (id, task_sid, reservation_sid, leg), or None."""
    found = _TARGET_OF_RECORD.execute(session, {"recording_sid": recording_sid}).first()
    if found is None:
        found = _TARGET_NAMING.execute(session, {"recording_sid": recording_sid}).first()
    if found is not None or call_sid is None:
        return found
    return _FIRST_TARGET_OF_CALL.execute(session, {"call_sid": call_sid}).first()


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None

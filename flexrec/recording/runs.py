"""Each process's run, kept for good: when it began answering webhooks, when it was last alive.

The coverage report reads these rows to say when the service was down (flexrec.coverage.
outages): an eligible call that fell in an outage is named as such, with the outage's window.
They are written cheaply: a row when its claim owner registers (in the same transaction),
`alive_at` once a second (one UPDATE of one row), `answering_at` once the web server takes
webhooks, `ended_at` at a clean stop.

A process killed -9 cannot say when it died. The process that finds it gone (the owners'
reaper) writes its last sign of life: the latest of its last heartbeat and what the service
wrote after it before any other process started (a task or recording created, a webhook marked
handled), read through indexes. That is within a second of the kill, closer on a busy line.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from flexrec.db.models import ProcessedEvent, RecordingRecord, ServiceRun, TaskRecord


def open_run(
    session: Session, run_id: str, host: str, pid: int, pid_started: int | None, now: datetime
) -> None:
    """The run's row, as the process registers its claim owner."""
    session.add(
        ServiceRun(
            run_id=run_id, host=host, pid=pid, pid_started=pid_started, started_at=now,
            alive_at=now,
        )
    )  # fmt: skip


def answering(session: Session, run_id: str, now: datetime) -> None:
    """The run began taking webhooks (its first moment only)."""
    session.execute(
        update(ServiceRun)
        .where(ServiceRun.run_id == run_id, ServiceRun.answering_at.is_(None))
        .values(answering_at=now)
    )


def stopped(session: Session, run_id: str, now: datetime) -> None:
    """A clean stop."""
    session.execute(
        update(ServiceRun).where(ServiceRun.run_id == run_id).values(alive_at=now, ended_at=now)
    )


# Runs with no end written: running, or gone without a word (rows with the owner fields the
# reaper judges by: host, pid, pid_started, heartbeat_at).
UNENDED = select(
    ServiceRun.run_id,
    ServiceRun.host,
    ServiceRun.pid,
    ServiceRun.pid_started,
    ServiceRun.alive_at.label("heartbeat_at"),
).where(ServiceRun.ended_at.is_(None))


def last_sign_of_life(session: Session, run_id: str, lease: timedelta) -> datetime | None:
    """When a vanished run was last known alive: its last heartbeat, or a later row the service
    wrote before its lease ran out and before any other run started (whose own rows would say
    nothing of it). None when the run is unknown."""
    run = session.get(ServiceRun, run_id)
    if run is None:
        return None
    bound = run.alive_at + lease
    later_start = session.scalar(
        select(func.min(ServiceRun.started_at)).where(ServiceRun.started_at > run.alive_at)
    )
    if later_start is not None:
        bound = min(bound, later_start)
    signs = [run.alive_at]
    for column in (ProcessedEvent.received_at, TaskRecord.created_at, RecordingRecord.created_at):
        found = session.scalar(
            select(func.max(column)).where(column >= run.alive_at, column < bound)
        )
        if found is not None:
            signs.append(found)
    return max(signs)


def vanished(session: Session, run_ids: Sequence[str], lease: timedelta) -> None:
    """Write the end of runs found gone without a word: their last sign of life."""
    for run_id in run_ids:
        ended = last_sign_of_life(session, run_id, lease)
        if ended is not None:
            session.execute(
                update(ServiceRun)
                .where(ServiceRun.run_id == run_id, ServiceRun.ended_at.is_(None))
                .values(ended_at=ended)
            )

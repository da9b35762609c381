"""The memo path's writes: only the columns an event changes, each conditional on the row still
being what the memo says (flexrec.recording.task_events decides, this module writes).

A write that finds the row changed behind the memo raises `MemoDidNotHold`, and the event
takes the full path, which locks and merges the rows as every event once did.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update

from flexrec.db.models import ReservationRecord, TaskRecord
from flexrec.db.prepared import Prepared
from flexrec.recording.rows import ReservationState, TaskFields, TaskState
from flexrec.recording.store import Executor, insert_returning
from flexrec.recording.task_memo import TaskMemo


class MemoDidNotHold(Exception):
    """A conditional write found the row changed behind the memo: take the full path."""


# A reservation a worker took, first stored (another process may store it first: no row back).
_RESERVATION_INSERT = Prepared(
    lambda dialect: insert_returning(
        dialect, ReservationRecord.__table__, ("sid",), (ReservationRecord.sid,)
    )
)
_RESERVATION_COLUMNS = tuple(ReservationState.__dataclass_fields__)
_COMPLETE_WRAPPING = Prepared(
    update(ReservationRecord)
    .where(
        ReservationRecord.task_sid == bindparam("task"),
        ReservationRecord.status == "wrapping",
    )
    .values(status="completed", updated_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


def write_task(
    session: Executor,
    task_sid: str,
    memo: TaskMemo,
    state: TaskState,
    fields: TaskFields,
    take: bool,
    now: datetime,
) -> None:
    """Write the task columns `state` changes from the memo's (`take`: its attributes too)."""
    values: dict[str, Any] = {
        name: value
        for name, value in vars(state).items()
        if name not in ("has_attributes", "last_event_ms") and value != getattr(memo.state, name)
    }
    if state.last_event_ms != memo.written_clock:
        values["last_event_ms"] = state.last_event_ms  # a clock held in the memo too
    if take:
        values["attributes"] = fields.attributes
    values["updated_at"] = now
    params = {
        "b_sid": task_sid,
        "b_was": memo.updated_at,
        "b_last": memo.written_clock,
        "b_status": memo.state.status,
        **values,
    }
    if _task_update(tuple(values)).execute(session, params).rowcount != 1:
        raise MemoDidNotHold(task_sid)


def complete_wrapping_reservations(session: Executor, task_sid: str, now: datetime) -> int:
    """A task that completes completes its reservations still in wrap-up (TaskRouter completes
    them with it), in the task's own write: `reservation.completed` of a task in wrap-up is not
    written by itself (flexrec.recording.task_events). How many rows moved."""
    return int(_COMPLETE_WRAPPING.execute(session, {"task": task_sid, "now": now}).rowcount or 0)


def write_reservation(
    session: Executor,
    task_sid: str,
    reservation_sid: str,
    old: ReservationState | None,
    new: ReservationState,
    now: datetime,
) -> None:
    """Store a reservation the memo did not know, or move one from `old` to `new`."""
    values = {**vars(new), "updated_at": now}
    if old is None:
        row = {"sid": reservation_sid, "task_sid": task_sid, **values}
        if _RESERVATION_INSERT.execute(session, row).first() is None:
            raise MemoDidNotHold(reservation_sid)  # another process stored it first
        return
    params = {"b_sid": reservation_sid, "b_status": old.status, **values}
    if old.last_event_ms is not None:
        params["b_clock"] = old.last_event_ms
    if _reservation_update(old.last_event_ms is None).execute(session, params).rowcount != 1:
        raise MemoDidNotHold(reservation_sid)


@functools.cache
def _task_update(columns: tuple[str, ...]) -> Prepared:
    """UPDATE of these task columns while the row is as the memo knew it (built once per set
    of columns: building statements per event cost more than running them)."""
    return Prepared(
        update(TaskRecord)
        .where(
            TaskRecord.sid == bindparam("b_sid"),
            TaskRecord.updated_at == bindparam("b_was"),
            # The row's own clock and status too: a write in the same instant (or a clock
            # stepped back) is still told apart.
            TaskRecord.last_event_ms.is_not_distinct_from(bindparam("b_last")),
            TaskRecord.status.is_not_distinct_from(bindparam("b_status")),
        )
        .values({name: bindparam(name) for name in columns})
        .execution_options(synchronize_session=False)
    )


@functools.cache
def _reservation_update(clock_unset: bool) -> Prepared:
    """UPDATE of a reservation while its status and clock are as the memo knew them."""
    clock = ReservationRecord.last_event_ms
    return Prepared(
        update(ReservationRecord)
        .where(
            ReservationRecord.sid == bindparam("b_sid"),
            ReservationRecord.status == bindparam("b_status"),
            clock.is_(None) if clock_unset else clock == bindparam("b_clock"),
        )
        .values({name: bindparam(name) for name in (*_RESERVATION_COLUMNS, "updated_at")})
        .execution_options(synchronize_session=False)
    )

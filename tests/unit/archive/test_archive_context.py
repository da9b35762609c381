"""The archive's view of the recording service's tables: task, queue, agent, leg labels."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from flexrec.archive.context import db_context_provider
from flexrec.db.models import (
    AttributeWrite,
    RecordingRecord,
    RecordingTarget,
    ReservationRecord,
    TaskRecord,
)
from flexrec.db.prepared import watch

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def sid(prefix: str, n: int) -> str:
    return f"{prefix}{n:032x}"


def seed(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        s.add_all(
            [
                TaskRecord(
                    sid=sid("WT", 1),
                    direction="inbound",
                    queue_name="Sales",
                    attributes={"from": "+15550001111", "direction": "inbound"},
                    created_at=NOW,
                    updated_at=NOW,
                ),
                TaskRecord(
                    sid=sid("WT", 3),
                    direction="outbound",
                    queue_name="Outbound",
                    attributes={"outbound_to": "+15550002222"},
                    created_at=NOW,
                    updated_at=NOW,
                ),
                ReservationRecord(
                    sid=sid("WR", 1),
                    task_sid=sid("WT", 1),
                    worker_sid=sid("WK", 1),
                    worker_name="alice",
                    status="accepted",
                    accepted_ms=1000,
                    updated_at=NOW,
                ),
                ReservationRecord(
                    sid=sid("WR", 2),
                    task_sid=sid("WT", 1),
                    worker_sid=sid("WK", 2),
                    worker_name="bob",
                    status="accepted",
                    accepted_ms=5000,
                    updated_at=NOW,
                ),
                ReservationRecord(
                    sid=sid("WR", 3),
                    task_sid=sid("WT", 3),
                    worker_sid=sid("WK", 3),
                    worker_name="carol",
                    status="accepted",
                    accepted_ms=1000,
                    updated_at=NOW,
                ),
            ]
        )
        customer = RecordingTarget(
            leg_key=sid("CA", 1),
            call_sid=sid("CA", 1),
            leg="customer",
            task_sid=sid("WT", 1),
            state="completed",
            recording_sid=sid("RE", 1),
            created_at=NOW,
            updated_at=NOW,
        )
        worker = RecordingTarget(
            leg_key=f"{sid('WR', 3)}:{sid('CA', 3)}",
            call_sid=sid("CA", 3),
            leg="worker",
            task_sid=sid("WT", 3),
            reservation_sid=sid("WR", 3),
            state="completed",
            recording_sid=None,
            created_at=NOW,
            updated_at=NOW,
        )
        s.add_all([customer, worker])
        s.flush()
        s.add(
            RecordingRecord(
                sid=sid("RE", 3),
                call_sid=sid("CA", 3),
                target_id=worker.id,
                status="completed",
                created_at=NOW,
                updated_at=NOW,
            )
        )
        # A transfer linked the customer-leg recording into a second task.
        s.add(
            AttributeWrite(
                task_sid=sid("WT", 2),
                target_id=customer.id,
                recording_sid=sid("RE", 1),
                created_at=NOW,
            )
        )
        s.commit()


def test_customer_leg_context_with_transfer(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    provide = db_context_provider(sessions)
    context = provide(sid("RE", 1), sid("CA", 1))
    assert context is not None
    assert context.task_sids == (sid("WT", 1), sid("WT", 2))
    assert (context.queue_name, context.direction) == ("Sales", "inbound")
    assert (context.worker_sid, context.agent_identity) == (sid("WK", 1), "alice")
    assert context.customer_number == "+15550001111"
    assert context.channel_labels == ("customer", "others")


def test_worker_leg_context_found_through_the_recording_row(
    sessions: sessionmaker[Session],
) -> None:
    seed(sessions)
    context = db_context_provider(sessions)(sid("RE", 3), None)
    assert context is not None
    assert context.task_sids == (sid("WT", 3),)
    assert (context.direction, context.customer_number) == ("outbound", "+15550002222")
    assert (context.worker_sid, context.agent_identity) == (sid("WK", 3), "carol")
    assert context.channel_labels == ("others", "customer")


def test_unknown_recording_has_no_context(sessions: sessionmaker[Session]) -> None:
    seed(sessions)
    provide = db_context_provider(sessions)
    assert provide(sid("RE", 9), None) is None
    by_call = provide(sid("RE", 9), sid("CA", 1))  # matched by the call leg instead
    assert by_call is not None and by_call.queue_name == "Sales"


def test_the_context_is_read_by_prepared_statements_alone(
    sessions: sessionmaker[Session],
) -> None:
    """Every archive job asks once: each read a prepared statement on the driver's cursor,
    none through SQLAlchemy's execution (which cost several times the statement)."""
    seed(sessions)
    provide = db_context_provider(sessions)
    prepared: list[str] = []
    executed: list[str] = []

    def through_sqlalchemy(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        executed.append(sql)

    engine = sessions.kw["bind"]
    event.listen(engine, "before_cursor_execute", through_sqlalchemy)
    try:
        with watch(prepared.append):
            context = provide(sid("RE", 1), sid("CA", 1))
    finally:
        event.remove(engine, "before_cursor_execute", through_sqlalchemy)
    assert context is not None and context.queue_name == "Sales"
    # The target (no recording row links it here: the one naming the recording), the tasks it
    # was linked into, the task, the reservation.
    assert (len(prepared), executed) == (5, [])

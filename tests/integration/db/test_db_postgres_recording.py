"""The migration and the exactly-once machinery against a real PostgreSQL.

PostgreSQL is the throwaway cluster `tests/conftest.py` starts on loopback. Each test works in its
own schema, so the database is shared.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sim_twilio import SimTwilio, fake_sid
from sqlalchemy import bindparam, create_engine, select, text, update
from sqlalchemy.orm import Session, sessionmaker
from testkit import assert_one_voice_recording, assert_recorded_exactly_once

from flexrec.db.base import make_engine, make_session_factory
from flexrec.db.migrate import upgrade
from flexrec.db.models import (
    ConferenceParticipantRecord,
    PauseEvent,
    RecordingRecord,
    RecordingTarget,
    TaskRecord,
)
from flexrec.db.prepared import Prepared
from flexrec.recording.owners import OwnerLease
from flexrec.recording.pause import Actor
from flexrec.recording.policy import RecordingPolicy
from flexrec.recording.service import RecordingService
from flexrec.recording.store import upsert_participant, write_session
from flexrec.recording.transitions import claim as claim_target
from flexrec.recording.transitions import ensure_target, starts
from flexrec.webhooks.events import parse_conference_form, parse_taskrouter_form

CUSTOMER = fake_sid("CA", 1)
TASK = fake_sid("WT", 1)


def _driver_url(url: str) -> str:
    # psycopg 3 is the installed driver; plain postgresql:// would pick psycopg2.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    schema = f"flexrec_test_{uuid.uuid4().hex[:10]}"
    base = _driver_url(postgres_url)
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sessions(pg_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(pg_url)
    upgrade(pg_url)  # a second run is a no-op
    engine = make_engine(pg_url)
    yield make_session_factory(engine)
    engine.dispose()


def _race(n: int, fn: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        try:
            value = fn()
        except BaseException as exc:
            with lock:
                errors.append(exc)
            return
        with lock:
            results.append(value)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


def test_migration_creates_the_tables(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        names = set(
            session.scalars(
                text(
                    "SELECT table_name FROM information_schema.tables"
                    " WHERE table_schema = current_schema()"
                )
            ).all()
        )
    assert {
        "recording_targets",
        "tasks",
        "recordings",
        "attribute_writes",
        "alembic_version",
    } <= names


def test_concurrent_ensure_target_makes_one_row(sessions: sessionmaker[Session]) -> None:
    now = datetime.now(UTC)

    def ensure() -> int:
        with write_session(sessions) as session:
            target, _ = ensure_target(
                session, leg_key=CUSTOMER, call_sid=CUSTOMER, leg="customer", task_sid=TASK,
                reservation_sid=None, now=now, event_ms=None,
            )  # fmt: skip
            return target.id

    ids = _race(8, ensure)
    assert len(set(ids)) == 1
    with sessions() as session:
        assert len(session.scalars(select(RecordingTarget)).all()) == 1


def test_only_one_claimant_wins_and_stale_claims_can_be_taken(
    sessions: sessionmaker[Session],
) -> None:
    now = datetime.now(UTC)
    with write_session(sessions) as session:
        target, _ = ensure_target(
            session, leg_key=CUSTOMER, call_sid=CUSTOMER, leg="customer", task_sid=TASK,
            reservation_sid=None, now=now, event_ms=None,
        )  # fmt: skip
        target_id = target.id

    def claim() -> bool:
        with write_session(sessions) as session:
            return claim_target(session, target_id, uuid.uuid4().hex, now, timedelta(seconds=60))

    assert sorted(_race(8, claim)) == [False] * 7 + [True]
    later = now + timedelta(seconds=61)
    with write_session(sessions) as session:
        assert claim_target(session, target_id, "late", later, timedelta(seconds=60))
    with sessions() as session:
        row = session.get(RecordingTarget, target_id)
        assert row is not None and row.attempts == 2 and row.claim_token == "late"
        assert row.claimed_at == later


def test_service_races_record_once_on_postgres(sessions: sessionmaker[Session]) -> None:
    twilio = SimTwilio()
    twilio.add_call(CUSTOMER)
    attrs = {"direction": "outbound", "conference": {"sid": fake_sid("CF", 1),
             "participants": {"worker": fake_sid("CA", 2), "customer": CUSTOMER}}}  # fmt: skip
    twilio.add_task(TASK, attrs)
    service = RecordingService(
        sessions, twilio, twilio, RecordingPolicy(), "https://rec.example.com"
    )
    service.task_events.handle(
        parse_taskrouter_form(
            {"EventType": "reservation.accepted", "Timestamp": "1790000000", "TaskSid": TASK,
             "ReservationSid": fake_sid("WR", 1), "WorkerSid": fake_sid("WK", 1),
             "TaskAssignmentStatus": "assigned",
             "TaskAttributes": json.dumps({"direction": "outbound"})}
        )
    )  # fmt: skip
    counter = iter(range(100))

    def deliver() -> None:
        n = next(counter)
        if n % 2:
            service.intake.handle_conference_event(
                parse_conference_form(
                    {"StatusCallbackEvent": "participant-join", "ConferenceSid": fake_sid("CF", 1),
                     "FriendlyName": TASK, "CallSid": CUSTOMER, "ParticipantLabel": "customer",
                     "SequenceNumber": str(n)}
                )
            )  # fmt: skip
        else:
            service.task_events.handle(
                parse_taskrouter_form(
                    {"EventType": "task.updated", "Timestamp": str(1790000001 + n), "TaskSid": TASK,
                     "TaskAssignmentStatus": "assigned", "TaskAttributes": json.dumps(attrs)}
                )
            )  # fmt: skip

    _race(6, deliver)
    assert_recorded_exactly_once(twilio, CUSTOMER)
    assert_one_voice_recording(twilio.tasks[TASK].attributes)


def test_claims_of_a_gone_owner_come_back_and_a_reaped_owner_cannot_claim(
    sessions: sessionmaker[Session],
) -> None:
    now = datetime.now(UTC)
    running = {101, 202}
    leases = [
        OwnerLease(sessions, lambda: now, host="h", pid=pid, alive=lambda p, _s: p in running)
        for pid in (101, 202)
    ]
    for lease in leases:
        lease.register()
    dead, alive = leases
    with write_session(sessions) as session:
        target, _ = ensure_target(
            session, leg_key=CUSTOMER, call_sid=CUSTOMER, leg="customer", task_sid=TASK,
            reservation_sid=None, now=now, event_ms=None,
        )  # fmt: skip
        target_id = target.id
    with write_session(sessions) as session:
        assert claim_target(session, target_id, "t1", now, timedelta(seconds=60), dead.owner_id)
    assert alive.reap() == []  # its owner still runs
    running.discard(101)
    assert alive.reap() == [target_id]
    with write_session(sessions) as session:
        row = session.get(RecordingTarget, target_id)
        assert row is not None and (row.state, row.claim_owner) == ("pending", None)
        assert not claim_target(session, target_id, "t2", now, timedelta(seconds=60), "gone")
        assert claim_target(session, target_id, "t3", now, timedelta(seconds=60), alive.owner_id)


def test_prepared_statements_give_what_sqlalchemy_gives_on_postgres(
    sessions: sessionmaker[Session],
) -> None:
    # The hot statements run on psycopg's cursor (flexrec.db.prepared): the same typed rows,
    # rowcounts, defaults and conflicts as SQLAlchemy's execution on this dialect.
    now = datetime(2026, 12, 7, 8, 30, 15, 123456, tzinfo=UTC)
    tasks = TaskRecord.__table__
    by_sid = select(tasks.c.sid, tasks.c.attributes, tasks.c.updated_at).where(
        tasks.c.sid == bindparam("sid")
    )
    with sessions() as session, session.begin():
        session.execute(
            tasks.insert(),
            {"sid": TASK, "attributes": {"to": "+1555"}, "created_at": now, "updated_at": now},
        )
    moved = Prepared(
        update(TaskRecord)
        .where(TaskRecord.sid == bindparam("b_sid"), TaskRecord.updated_at == bindparam("b_was"))
        .values(status=bindparam("status"), attributes=bindparam("attributes"))
    )
    with sessions() as session:
        connection = session.connection()
        missed = moved.execute(connection, {"b_sid": TASK, "b_was": now - timedelta(seconds=1),
                                            "status": "x", "attributes": {}})  # fmt: skip
        hit = moved.execute(connection, {"b_sid": TASK, "b_was": now, "status": "assigned",
                                         "attributes": {"n": [1, None]}})  # fmt: skip
        session.commit()
    assert (missed.rowcount, hit.rowcount) == (0, 1)
    with sessions() as session:
        expected = session.execute(by_sid, {"sid": TASK}).one()
        got = Prepared(by_sid).execute(session, {"sid": TASK}).first()
        assert tuple(got) == tuple(expected)
        assert got.attributes == {"n": [1, None]} and got.updated_at == now
        values = {"conference_sid": fake_sid("CF", 9), "call_sid": CUSTOMER, "updated_at": now}
        upsert_participant(session, "participant-join", values)
        upsert_participant(session, "participant-hold", values)
        session.commit()
    with sessions() as session:
        row = session.execute(
            select(ConferenceParticipantRecord.joined, ConferenceParticipantRecord.hold)
        ).one()
    assert tuple(row) == (True, True)


def _waiting_for_a_lock(sessions: sessionmaker[Session]) -> bool:
    """Whether some backend of this database is blocked on a row lock right now."""
    with sessions() as session:
        return bool(
            session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                )
            )
        )


def test_a_pause_written_while_the_leg_target_is_created_is_not_lost(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent presses Pause while the webhook that reveals the customer's leg is between
    reading the task's pause wish and committing the new target (no catch-up: its limiter
    refused). The pause must wait for that commit, then reach the new target: without the
    task-row lock it was written beside it and the recording started unpaused."""
    twilio = SimTwilio()
    twilio.add_call(CUSTOMER)
    worker = fake_sid("WK", 1)
    twilio.add_task(TASK, {"direction": "outbound"})
    service = RecordingService(
        sessions, twilio, twilio, RecordingPolicy(), "https://rec.example.com"
    )
    service.pauses.catch_up_limiter.allow = lambda *_a: False  # type: ignore[method-assign]
    service.task_events.handle(
        parse_taskrouter_form(
            {"EventType": "reservation.accepted", "Timestamp": "1790000000", "TaskSid": TASK,
             "ReservationSid": fake_sid("WR", 1), "WorkerSid": worker,
             "TaskAssignmentStatus": "assigned",
             "TaskAttributes": json.dumps({"direction": "outbound"})}
        )
    )  # fmt: skip
    assert not twilio.recordings_on(CUSTOMER)
    agent = Actor("alice", worker, ("agent",))
    presser: list[threading.Thread] = []
    read_wish = starts.task_pause_wish
    planner = threading.current_thread()

    def wish_then_hold(session: Session, task_sid: str) -> Any:
        wish = read_wish(session, task_sid)
        if threading.current_thread() is planner and not presser:
            presser.append(threading.Thread(target=service.pauses.pause, args=(TASK, agent)))
            presser[0].start()
            deadline = time.monotonic() + 60
            # The planner's transaction stays open until the pause is done, or waits for it.
            while presser[0].is_alive() and not _waiting_for_a_lock(sessions):
                assert time.monotonic() < deadline, "the pause neither finished nor waited"
                time.sleep(0.01)
        return wish

    monkeypatch.setattr(starts, "task_pause_wish", wish_then_hold)  # what ensure_target asks
    service.intake.handle_conference_event(
        parse_conference_form(
            {"StatusCallbackEvent": "participant-join", "ConferenceSid": fake_sid("CF", 1),
             "FriendlyName": TASK, "CallSid": CUSTOMER, "ParticipantLabel": "customer",
             "SequenceNumber": "1"}
        )
    )  # fmt: skip
    presser[0].join(60)
    (recording,) = twilio.recordings_on(CUSTOMER)
    assert recording.status == "paused"


def test_pauses_are_bounded_by_their_requests_on_postgresql(
    sessions: sessionmaker[Session],
) -> None:
    """The create's and each pause's send and answer are written, and the send noted before
    a request is taken by its answer (`note_sent`'s COALESCE update on PostgreSQL)."""
    twilio = SimTwilio()
    twilio.add_call(CUSTOMER)
    worker = fake_sid("WK", 1)
    attrs = {"direction": "inbound", "call_sid": CUSTOMER}
    twilio.add_task(TASK, attrs)
    service = RecordingService(
        sessions, twilio, twilio, RecordingPolicy(pause_behavior="skip"), "https://rec.example.com"
    )
    service.task_events.handle(
        parse_taskrouter_form(
            {"EventType": "reservation.accepted", "Timestamp": "1790000000", "TaskSid": TASK,
             "ReservationSid": fake_sid("WR", 1), "WorkerSid": worker,
             "TaskAssignmentStatus": "assigned", "TaskAttributes": json.dumps(attrs)}
        )
    )  # fmt: skip
    agent = Actor("alice", worker, ("agent",))
    service.pauses.pause(TASK, agent)
    service.pauses.resume(TASK, agent)
    with sessions() as session:
        (row,) = session.scalars(select(RecordingRecord)).all()
        events = session.scalars(select(PauseEvent).order_by(PauseEvent.id)).all()
    assert row.create_sent_ms is not None and row.create_answered_ms is not None
    assert row.create_sent_ms <= row.create_answered_ms
    assert row.change_sent_ms is None
    assert [(e.action, e.result) for e in events] == [("pause", "paused"), ("resume", "recording")]
    for event in events:
        assert event.sent_at is not None and event.answered_at is not None
        assert event.sent_at <= event.answered_at <= event.created_at

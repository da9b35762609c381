"""The player's agents, holds and transfers, from reservations and hold callbacks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from flexrec.archive.models import ArchivedRecording
from flexrec.console.call_timeline import AgentSpan, Transfer, call_timeline, transfers
from flexrec.db.base import Base, make_engine, make_session_factory
from flexrec.db.models import HoldEvent, ReservationRecord

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
BASE = int(T0.timestamp() * 1000)
TASK = "WT" + "1" * 32
LEG = "CA" + "2" * 32


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    import flexrec.archive.models  # noqa: F401 - registers the archive tables

    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    Base.metadata.create_all(engine)
    with make_session_factory(engine)() as s:
        yield s
    engine.dispose()


def _recording(duration_ms: int = 90_000) -> ArchivedRecording:
    return ArchivedRecording(
        recording_sid="RE" + "3" * 32,
        call_sid=LEG,
        task_sids=[TASK],
        duration_ms=duration_ms,
        recording_started_at=T0,
    )


def _reservation(session: Session, n: int, name: str, start_s: float, end_s: float | None) -> None:
    session.add(
        ReservationRecord(
            sid=f"WR{n:032x}",
            task_sid=TASK,
            worker_sid=f"WK{n:032x}",
            worker_name=name,
            status="completed",
            accepted_ms=BASE + int(start_s * 1000),
            ended_ms=BASE + int(end_s * 1000) if end_s is not None else None,
            updated_at=T0 + timedelta(minutes=5),
        )
    )


def test_a_cold_transfer_names_both_agents_their_spans_and_the_wait(session: Session) -> None:
    _reservation(session, 1, "alice", -4, 31)  # accepted just before the recording started
    _reservation(session, 2, "carol", 41, None)  # still on it when the recording ended
    _reservation(session, 3, "rejected-dave", 35, 36)
    session.get(ReservationRecord, f"WR{3:032x}").accepted_ms = None  # type: ignore[union-attr]
    session.commit()
    found = call_timeline(session, _recording())
    assert found["agents"] == [
        {"name": "alice", "worker_sid": f"WK{1:032x}", "start_ms": 0, "end_ms": 31_000},
        {"name": "carol", "worker_sid": f"WK{2:032x}", "start_ms": 41_000, "end_ms": None},
    ]
    assert found["transfers"] == [
        {"at_ms": 41_000, "from_name": "alice", "to_name": "carol", "warm": False,
         "waited_ms": 10_000}
    ]  # fmt: skip


def test_a_warm_transfer_overlaps() -> None:
    agents = [AgentSpan("a", None, 0, 50_000), AgentSpan("b", None, 40_000, None)]
    assert transfers(agents) == [Transfer(40_000, "a", "b", True, None)]
    assert transfers(agents[:1]) == []


def test_holds_pair_up_whatever_order_their_callbacks_came_in(session: Session) -> None:
    for hold, at_s in ((False, 42), (True, 30), (True, 70), (False, 12)):
        # an unhold with no hold before it (12 s) opens nothing; the last hold runs to the end
        session.add(
            HoldEvent(conference_sid="CF" + "4" * 32, call_sid=LEG, hold=hold,
                      at_ms=BASE + at_s * 1000)
        )  # fmt: skip
    session.add(HoldEvent(conference_sid="CF" + "4" * 32, call_sid="CA" + "9" * 32,
                          hold=True, at_ms=BASE + 5_000))  # fmt: skip
    session.commit()
    holds = call_timeline(session, _recording())["holds"]
    assert holds == [
        {"start_ms": 30_000, "end_ms": 42_000},
        {"start_ms": 70_000, "end_ms": None},
    ]


def test_nothing_is_made_up_without_a_start_time(session: Session) -> None:
    _reservation(session, 1, "alice", 0, 10)
    session.commit()
    unknown = _recording()
    unknown.recording_started_at = None
    assert call_timeline(session, unknown) == {"agents": [], "holds": [], "transfers": []}

"""What the console's timeline is drawn from: each agent's span and each hold, kept with times."""

from __future__ import annotations

from recording_harness import Harness
from sim_twilio import fake_sid
from sqlalchemy import select

from flexrec.db.models import HoldEvent, ReservationRecord

TASK = fake_sid("WT", 1)
LEG = fake_sid("CA", 1)
RES = fake_sid("WR", 1)
WORKER = fake_sid("WK", 1)
T0 = 1_795_000_000_000


def reservation(h: Harness) -> tuple[int | None, int | None]:
    with h.sessions() as session:
        row = session.get(ReservationRecord, RES)
        assert row is not None
        return row.accepted_ms, row.ended_ms


def test_an_agents_span_runs_from_accepting_to_the_first_end_of_their_work(h: Harness) -> None:
    h.tr("reservation.created", TASK, reservation=RES, worker=WORKER, ts_ms=T0)
    h.tr("reservation.accepted", TASK, reservation=RES, worker=WORKER, ts_ms=T0 + 5_000)
    assert reservation(h) == (T0 + 5_000, None)
    # Completed (after wrap-up) delivered before the wrap-up itself: the wrap-up still wins.
    h.tr("reservation.completed", TASK, reservation=RES, worker=WORKER, ts_ms=T0 + 90_000)
    assert reservation(h) == (T0 + 5_000, T0 + 90_000)
    h.tr("reservation.wrapup", TASK, reservation=RES, worker=WORKER, ts_ms=T0 + 60_000)
    assert reservation(h) == (T0 + 5_000, T0 + 60_000)


def test_holds_are_kept_with_their_times_once_each(h: Harness) -> None:
    for event, at in (
        ("participant-hold", "Tue, 24 Nov 2026 12:01:00 +0000"),
        ("participant-hold", "Tue, 24 Nov 2026 12:01:00 +0000"),  # a duplicate delivery
        ("participant-unhold", "Tue, 24 Nov 2026 12:01:30 +0000"),
        ("participant-join", "Tue, 24 Nov 2026 12:01:31 +0000"),  # not a hold
    ):
        h.conference(event, LEG, "customer", TASK, at=at)
    with h.sessions() as session:
        rows = session.scalars(select(HoldEvent).order_by(HoldEvent.at_ms)).all()
        kept = [(r.call_sid, r.hold, r.at_ms - rows[0].at_ms) for r in rows]
    assert kept == [(LEG, True, 0), (LEG, False, 30_000)]

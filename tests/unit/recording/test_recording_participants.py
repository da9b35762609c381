"""Conference participant rows: one statement per callback keeps what each event means."""

from __future__ import annotations

from recording_harness import Harness
from sim_twilio import fake_sid
from sqlalchemy import select

from flexrec.db.models import ConferenceParticipantRecord

TASK = fake_sid("WT", 1)
LEG = fake_sid("CA", 1)


def row(h: Harness) -> tuple[str | None, bool, bool]:
    with h.sessions() as session:
        found = session.scalars(
            select(ConferenceParticipantRecord).where(ConferenceParticipantRecord.call_sid == LEG)
        ).one()
        return found.label, found.joined, found.hold


def test_join_hold_unhold_leave_update_one_row(h: Harness) -> None:
    h.conference("participant-join", LEG, "customer", TASK)
    assert row(h) == ("customer", True, False)
    h.conference("participant-hold", LEG, "customer", TASK)
    assert row(h) == ("customer", True, True)
    h.conference("participant-unhold", LEG, "customer", TASK)
    assert row(h) == ("customer", True, False)
    h.conference("participant-leave", LEG, "customer", TASK)
    assert row(h) == ("customer", False, False)


def test_a_later_label_never_replaces_the_first(h: Harness) -> None:
    h.conference("participant-join", LEG, "customer", TASK)
    h.conference("participant-hold", LEG, "worker", TASK)
    assert row(h) == ("customer", True, True)


def test_a_hold_seen_first_creates_the_row_on_hold(h: Harness) -> None:
    h.conference("participant-hold", LEG, "customer", TASK)
    assert row(h) == ("customer", True, True)

"""Legal holds: who, when and why; audited; a held recording keeps Twilio's copy too."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sim_recordings import SimRecordings
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flexrec.archive.audit_chain import AuditLog
from flexrec.archive.holds import HoldError, NotHeld, list_holds, place_hold, release_hold
from flexrec.archive.retention import load_retention_policy
from flexrec.archive.service import ArchiveService, RecordingNotArchived
from flexrec.config import PolicySettings
from flexrec.recording.policy import load_policy

RE = "RE" + "1" * 32
CA = "CA" + "2" * 32
README_POLICY = """direction = "both"
leg = "customer"

[exclude]
queues = ["Internal"]

[retention]                 # archive retention; a legal hold always wins
default_days = 365
by_queue = { Sales = 90 }
"""


def test_the_readme_policy_with_retention_loads(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(README_POLICY)
    assert load_policy(PolicySettings(policy_file=path)).exclude.queues == ("Internal",)
    retention = load_retention_policy(path)
    assert (retention.default_days, dict(retention.by_queue)) == (365, {"Sales": 90})


def test_a_hold_says_who_when_and_why_and_is_audited(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    sessions: sessionmaker[Session],
) -> None:
    twilio.add(RE, CA)
    service = make_service()
    service.job.archive_recording(RE)
    with pytest.raises(HoldError, match="why"):
        place_hold(sessions, RE, "legal@example.com", "  ")
    facts = place_hold(sessions, RE, "legal@example.com", "matter 2026-17", ip="10.0.0.9")
    assert (facts.legal_hold, facts.held_by, facts.hold_reason) == (
        True,
        "legal@example.com",
        "matter 2026-17",
    )
    assert facts.held_at is not None
    assert [f.recording_sid for f in list_holds(sessions)] == [RE]
    released = release_hold(sessions, RE, "cli:ops", "matter closed")
    assert (released.legal_hold, released.held_by, released.hold_reason) == (False, None, None)
    assert list_holds(sessions) == []
    with sessions() as session:
        rows = session.scalars(
            select(AuditLog).where(AuditLog.action != "sealed").order_by(AuditLog.id)
        ).all()
        audit = [(r.action, r.actor, r.detail.get("reason"), r.ip) for r in rows]
    assert audit == [
        ("legal_hold_set", "legal@example.com", "matter 2026-17", "10.0.0.9"),
        ("legal_hold_cleared", "cli:ops", "matter closed", None),
    ]
    assert rows[1].detail["held_by"] == "legal@example.com"


def test_a_release_says_why_and_releasing_what_is_not_held_changes_nothing(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    sessions: sessionmaker[Session],
) -> None:
    twilio.add(RE, CA)
    make_service().job.archive_recording(RE)
    with pytest.raises(NotHeld, match="not on legal hold"):
        release_hold(sessions, RE, "cli:ops", "matter closed")  # it was reported as success
    place_hold(sessions, RE, "legal@example.com", "matter 2026-17")
    with pytest.raises(HoldError, match="why the hold ends"):
        release_hold(sessions, RE, "api:admin", " ")  # it wrote an audit row with reason ""
    assert [f.recording_sid for f in list_holds(sessions)] == [RE]
    with sessions() as session:
        actions = session.scalars(
            select(AuditLog.action).where(AuditLog.action.like("legal_hold%"))
        ).all()
    assert actions == ["legal_hold_set"]


def test_an_unknown_recording_cannot_be_held(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(RecordingNotArchived):
        place_hold(sessions, "RE" + "9" * 32, "x", "case")


def test_a_held_recording_keeps_twilios_copy_until_released(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    sessions: sessionmaker[Session],
    clock: Callable[[], datetime],
) -> None:
    twilio.add(RE, CA)
    service = make_service(delete_from_twilio=True)
    service.job.note_completed(RE, CA, None, 2)
    place_hold(sessions, RE, "legal", "case 1", clock=clock)
    row = service.job.archive_recording(RE)
    assert row.state == "verified"
    assert not twilio.deleted(RE)
    # The reconciler leaves it alone while held...
    assert service.job.unfinished(stale_after=timedelta(0)) == []
    release_hold(sessions, RE, "legal", "closed", clock=clock)
    # ...and finishes the clean-up once released.
    assert service.job.unfinished(stale_after=timedelta(0)) == [RE]
    assert service.job.archive_recording(RE).state == "deleted_from_twilio"
    assert twilio.deleted(RE)

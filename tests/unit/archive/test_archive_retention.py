"""Retention policy parsing, and the sweep: expiry, legal hold, audit, crash-tolerance."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sim_recordings import SimRecordings
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flexrec.archive.audit_chain import AuditLog
from flexrec.archive.retention import (
    RetentionPolicy,
    RetentionPolicyError,
    load_retention_policy,
)
from flexrec.archive.service import ArchiveService, RecordingContext, RecordingNotArchived
from flexrec.archive.storage import MemoryStorage

START = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


def sid(prefix: str, n: int) -> str:
    return f"{prefix}{n:032x}"


def test_policy_defaults_and_per_queue_days() -> None:
    policy = RetentionPolicy.from_mapping({"default_days": 30, "by_queue": {"Sales": 7}})
    assert policy.days_for("Sales") == 7
    assert policy.days_for("Support") == 30
    assert policy.days_for(None) == 30
    assert policy.retain_until(START, "Sales") == START + timedelta(days=7)
    forever = RetentionPolicy.from_mapping({"default_days": 0})
    assert forever.retain_until(START, "Support") is None
    assert RetentionPolicy().days_for("x") == 365


def test_policy_file_is_read_with_tomllib(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        '[recording]\ndirection = "both"\n\n[retention]\ndefault_days = 400\n'
        "[retention.by_queue]\nSales = 90\n"
    )
    policy = load_retention_policy(path)
    assert policy.default_days == 400
    assert dict(policy.by_queue) == {"Sales": 90}
    assert load_retention_policy(None) == RetentionPolicy()
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    assert load_retention_policy(empty) == RetentionPolicy()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[retention]\ndefault_days = -1\n", "default_days"),
        ("[retention]\ndefault_days = true\n", "default_days"),
        ('[retention]\ndefault_days = "365"\n', "default_days"),
        ("[retention]\nkeep = 3\n", "unknown"),
        ("[retention]\nby_queue = 5\n", "by_queue"),
        ("[retention.by_queue]\nSales = 1.5\n", "by_queue.Sales"),
        ("[retention\n", "not valid TOML"),
    ],
)
def test_malformed_policy_is_rejected_clearly(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(RetentionPolicyError, match=message):
        load_retention_policy(path)


def test_missing_policy_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RetentionPolicyError, match="not found"):
        load_retention_policy(tmp_path / "nope.toml")


def test_sweep_purges_expired_media_except_legal_holds(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    store: MemoryStorage,
    sessions: sessionmaker[Session],
) -> None:
    queues = {1: "Sales", 2: "Sales", 3: "Support"}
    for n in queues:
        twilio.add(sid("RE", n), sid("CA", n), start_time=START)
    contexts = {sid("CA", n): RecordingContext(queue_name=q) for n, q in queues.items()}
    service = make_service(
        retention=RetentionPolicy(365, {"Sales": 90}),
        context_provider=lambda _re, call: contexts.get(call or ""),
    )
    for n in queues:
        service.job.archive_recording(sid("RE", n))
    service.holds.set_legal_hold(sid("RE", 2), True, actor="legal@example.com", reason="case 42")

    assert service.holds.apply_retention(START + timedelta(days=89)) == []
    purged = service.holds.apply_retention(START + timedelta(days=90))
    assert purged == [sid("RE", 1)]
    assert len(store.list_keys()) == 2
    row = service.get(sid("RE", 1))
    assert row is not None and row.purged_at is not None
    with pytest.raises(RecordingNotArchived):
        service.reader.read_media(sid("RE", 1))
    # Idempotent: a second sweep has nothing more to do.
    assert service.holds.apply_retention(START + timedelta(days=91)) == []
    # Releasing the hold lets the next sweep delete it.
    service.holds.set_legal_hold(
        sid("RE", 2), False, actor="legal@example.com", reason="case closed"
    )
    assert service.holds.apply_retention(START + timedelta(days=100)) == [sid("RE", 2)]
    assert service.holds.apply_retention(START + timedelta(days=365)) == [sid("RE", 3)]
    assert store.list_keys() == []

    with sessions() as session:
        entries = session.scalars(
            select(AuditLog).where(AuditLog.action != "sealed").order_by(AuditLog.id)
        ).all()
        actions = [(e.action, e.recording_sid, e.actor) for e in entries]
    assert actions == [
        ("legal_hold_set", sid("RE", 2), "legal@example.com"),
        ("purge", sid("RE", 1), "system"),
        ("legal_hold_cleared", sid("RE", 2), "legal@example.com"),
        ("purge", sid("RE", 2), "system"),
        ("purge", sid("RE", 3), "system"),
    ]


def test_sweep_skips_a_storage_failure_and_retries_next_time(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService]
) -> None:
    class FlakyDeletes(MemoryStorage):
        failures = 1

        def delete(self, key: str) -> None:
            if self.failures:
                self.failures -= 1
                from flexrec.archive.storage import StorageError

                raise StorageError("bucket unreachable")
            super().delete(key)

    store = FlakyDeletes()
    twilio.add(sid("RE", 1), sid("CA", 1), start_time=START)
    service = make_service(store=store, retention=RetentionPolicy(1))
    service.job.archive_recording(sid("RE", 1))
    later = START + timedelta(days=2)
    assert service.holds.apply_retention(later) == []
    row = service.get(sid("RE", 1))
    assert row is not None and row.purged_at is None  # not marked: the object still exists
    assert service.holds.apply_retention(later) == [sid("RE", 1)]

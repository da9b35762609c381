"""`verify`: exit 0 when everything holds; one problem naming exactly what was changed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sim_recordings import SimRecordings
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from flexrec.archive.audit_chain import GENESIS_HASH, AuditChainHead, AuditLog, digest_of
from flexrec.archive.audit_log import record_event
from flexrec.archive.crypto import ArchiveKey
from flexrec.archive.models import SealedObject
from flexrec.archive.retention import RetentionPolicy
from flexrec.archive.service import ArchiveService, RecordingContext
from flexrec.archive.worm import MemoryWormStorage
from flexrec.custody.anchors import anchor_head
from flexrec.custody.verify import VerifyScope, verify_archive

KEY = ArchiveKey(b"v" * 32)
POLICY = RetentionPolicy.from_mapping(
    {"default_days": 30, "by_queue": {"Trading": {"days": 2555, "legal_obligation": True}}}
)


def sid(prefix: str, n: int) -> str:
    return f"{prefix}{n:032x}"


@pytest.fixture
def worm(clock: Callable[[], Any]) -> MemoryWormStorage:
    return MemoryWormStorage(clock=clock)


@pytest.fixture
def archived(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    worm: MemoryWormStorage,
    sessions: sessionmaker[Session],
) -> dict[str, SealedObject]:
    service = make_service(
        store=worm,
        key=KEY,
        retention=POLICY,
        context_provider=lambda _s, _c: RecordingContext(queue_name="Trading"),
    )
    for n in range(1, 6):
        twilio.add(sid("RE", n), sid("CA", n))
        service.job.archive_recording(sid("RE", n))
    for n in range(8):
        record_event(sessions, "play", f"agent-{n}", recording_sid=sid("RE", 1 + n % 5))
    with sessions() as session:
        return {m.recording_sid: m for m in session.scalars(select(SealedObject))}


def _verify(
    sessions: sessionmaker[Session], worm: MemoryWormStorage, clock: Any, **scope: Any
) -> Any:
    return verify_archive(sessions, worm, key=KEY, scope=VerifyScope(**scope), clock=clock)


def test_an_untouched_archive_verifies(
    archived: dict[str, SealedObject],
    sessions: sessionmaker[Session],
    worm: MemoryWormStorage,
    clock: Any,
) -> None:
    anchor_head(sessions, worm, clock=clock)
    report = _verify(sessions, worm, clock)
    assert report.problems == []
    assert report.objects == 5 and report.bytes_read > 0
    assert report.locks["compliance"] == 5
    assert report.unanchored == {"rows": 0, "first_seq": None, "oldest_at": None}


def test_one_flipped_byte_in_an_archived_object_names_exactly_that_object(
    archived: dict[str, SealedObject],
    sessions: sessionmaker[Session],
    worm: MemoryWormStorage,
    clock: Any,
) -> None:
    target = archived[sid("RE", 3)]
    data = bytearray(worm.get_version(target.storage_key, str(target.version_id)))
    data[len(data) // 2] ^= 0x01
    worm.tamper(target.storage_key, str(target.version_id), bytes(data))
    report = _verify(sessions, worm, clock)
    assert [(p.kind, p.subject) for p in report.problems] == [
        ("altered", f"{sid('RE', 3)} {target.storage_key}?versionId={target.version_id}")
    ]


def test_one_flipped_byte_in_an_audit_row_names_exactly_that_row(
    archived: dict[str, SealedObject],
    sessions: sessionmaker[Session],
    worm: MemoryWormStorage,
    clock: Any,
) -> None:
    with sessions() as session:
        row = session.scalars(select(AuditLog).where(AuditLog.actor == "agent-4")).one()
        session.execute(
            text("UPDATE audit_log SET actor = 'agent-5' WHERE id = :id"), {"id": row.id}
        )
        session.commit()
    report = _verify(sessions, worm, clock)
    assert [(p.kind, p.subject) for p in report.problems] == [
        ("audit", f"audit seq={row.seq} id={row.id}")
    ]


def test_a_rewrite_that_recomputes_every_hash_is_named_after_the_last_good_anchor(
    archived: dict[str, SealedObject],
    sessions: sessionmaker[Session],
    worm: MemoryWormStorage,
    clock: Any,
) -> None:
    first = anchor_head(sessions, worm, clock=clock)
    assert first is not None
    for n in range(4):
        record_event(sessions, "download", f"supervisor-{n}", recording_sid=sid("RE", 2))
    clock.advance(minutes=15)
    second = anchor_head(sessions, worm, clock=clock)
    assert second is not None and second.seq == first.seq + 4
    with sessions() as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.seq)).all()
        rows[first.seq + 1].actor = "nobody"  # the second row after the first anchor
        prev = GENESIS_HASH
        for row in rows:  # recompute every hash and the head, as a careful forger would
            row.prev_hash = prev
            row.row_hash = digest_of(row, prev)
            prev = row.row_hash
        session.execute(update(AuditChainHead).values(row_hash=prev))
        session.commit()
        after_anchor = rows[first.seq]  # seq = first.seq + 1
    report = _verify(sessions, worm, clock)
    assert [(p.kind, p.subject) for p in report.problems] == [
        ("audit", f"audit seq={first.seq + 1} id={after_anchor.id}")
    ]
    assert f"the last anchor that still holds is seq={first.seq}" in report.problems[0].message


def test_the_unanchored_tail_is_reported_and_a_stale_one_fails(
    archived: dict[str, SealedObject],
    sessions: sessionmaker[Session],
    worm: MemoryWormStorage,
    clock: Any,
) -> None:
    anchor = anchor_head(sessions, worm, clock=clock)
    assert anchor is not None
    record_event(sessions, "play", "late")
    report = _verify(sessions, worm, clock)
    assert report.ok
    assert report.unanchored["rows"] == 1 and report.unanchored["first_seq"] == anchor.seq + 1
    clock.now = datetime.now(UTC) + timedelta(hours=3)  # the row was written in real time
    report = _verify(sessions, worm, clock)
    assert [p.kind for p in report.problems] == ["anchor"]


def test_a_delete_marker_a_new_version_and_a_lost_lock_are_each_named(
    archived: dict[str, SealedObject],
    sessions: sessionmaker[Session],
    worm: MemoryWormStorage,
    clock: Any,
) -> None:
    hidden, replaced, unlocked = (archived[sid("RE", n)] for n in (1, 2, 4))
    worm.delete(hidden.storage_key)
    worm.put(replaced.storage_key, b"forged")
    worm._find(unlocked.storage_key, str(unlocked.version_id)).lock = None
    report = _verify(sessions, worm, clock)
    assert sorted((p.kind, p.subject.split()[0]) for p in report.problems) == [
        ("deleted", hidden.recording_sid),
        ("overwritten", replaced.recording_sid),
        ("unlocked", unlocked.recording_sid),
    ]


def test_a_manifest_row_changed_to_match_a_forged_object_disagrees_with_the_chain(
    archived: dict[str, SealedObject],
    sessions: sessionmaker[Session],
    worm: MemoryWormStorage,
    clock: Any,
) -> None:
    target = archived[sid("RE", 5)]
    with sessions() as session:
        session.execute(
            update(SealedObject)
            .where(SealedObject.id == target.id)
            .values(stored_sha256="0" * 64, size_bytes=1)
        )
        session.commit()
    report = _verify(sessions, worm, clock)
    kinds = sorted((p.kind, p.subject.split()[0]) for p in report.problems)
    assert kinds == [("altered", target.recording_sid), ("manifest", target.recording_sid)]
    assert "size_bytes, stored_sha256" in next(
        p.message for p in report.problems if p.kind == "manifest"
    )


def test_the_scope_picks_recordings_a_period_or_a_sample(
    archived: dict[str, SealedObject],
    sessions: sessionmaker[Session],
    worm: MemoryWormStorage,
    clock: Any,
) -> None:
    assert _verify(sessions, worm, clock, recordings=[sid("RE", 2)]).objects == 1
    assert _verify(sessions, worm, clock, sample_pct=40).objects == 2
    assert _verify(sessions, worm, clock, since=clock() + timedelta(seconds=1)).objects == 0

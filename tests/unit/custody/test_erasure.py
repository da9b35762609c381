"""Erasure requests: what the law lets go is erased everywhere; what it keeps is reported."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sim_recordings import SimRecordings
from sim_twilio import SimTwilio
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flexrec.archive.audit_chain import AuditLog
from flexrec.archive.models import (
    ArchivedRecording,
    ErasedRecording,
    RecordingAnalysis,
    SealedObject,
)
from flexrec.archive.retention import RetentionPolicy
from flexrec.archive.service import ArchiveService, RecordingContext
from flexrec.archive.worm import MemoryWormStorage
from flexrec.custody.erasure import ErasureError, TwilioCopies, erase_customer, number_forms
from flexrec.db.base import Base
from flexrec.db.models import TaskRecord
from flexrec.twilio.errors import GatewayError

CUSTOMER = "+15550001111"
POLICY = RetentionPolicy.from_mapping(
    {
        "default_days": 30,
        "lock": "governance",
        "by_queue": {"Trading": {"days": 2555, "legal_obligation": True}},
    }
)


def sid(prefix: str, n: int) -> str:
    return f"{prefix}{n:032x}"


class Gateway:
    """Tasks from flexsim (sim_twilio), recording deletes counted."""

    def __init__(self, fake: SimTwilio) -> None:
        self.fake = fake
        self.deleted: list[str] = []

    def delete_recording(self, recording_sid: str) -> None:
        self.deleted.append(recording_sid)

    def fetch_task(self, task_sid: str) -> Any:
        return self.fake.fetch_task(task_sid)

    def update_task_attributes(self, task_sid: str, attributes: Any, etag: Any) -> Any:
        return self.fake.update_task_attributes(task_sid, attributes, etag)


@pytest.fixture
def world(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    sessions: sessionmaker[Session],
    clock: Any,
) -> tuple[ArchiveService, MemoryWormStorage, Gateway]:
    store = MemoryWormStorage(clock=clock)
    queues = {1: "Sales", 2: "Trading", 3: "Sales", 4: "Support"}
    numbers = {1: CUSTOMER, 2: "15550001111", 3: "+1 555 000 1111", 4: "+15559999999"}

    def context(recording_sid: str, _call: str | None) -> RecordingContext:
        n = int(recording_sid[2:], 16)
        return RecordingContext(
            task_sids=(sid("WT", n),), queue_name=queues[n], customer_number=numbers[n]
        )

    archive = make_service(store=store, retention=POLICY, context_provider=context)
    fake = SimTwilio()
    for n in queues:
        twilio.add(sid("RE", n), sid("CA", n))
        archive.job.archive_recording(sid("RE", n))
        entry = {"type": "VoiceRecording", "url": f"https://x/Recordings/{sid('RE', n)}"}
        other = {"type": "VoiceRecording", "url": "https://x/Recordings/RE" + "f" * 32}
        fake.add_task(
            sid("WT", n), {"from": numbers[n], "conversations": {"media": [entry, other]}}
        )
        with sessions() as session:
            session.add(
                TaskRecord(
                    sid=sid("WT", n),
                    attributes={"from": numbers[n], "caller": numbers[n], "name": "Ann"},
                    created_at=clock(),
                    updated_at=clock(),
                )
            )
            session.add(RecordingAnalysis(recording_sid=sid("RE", n), created_at=clock(),
                                          updated_at=clock()))  # fmt: skip
            session.commit()
    archive.holds.set_legal_hold(sid("RE", 3), True, "legal", "matter 9")
    return archive, store, Gateway(fake)


def test_erases_what_may_go_and_reports_what_must_stay(
    world: tuple[ArchiveService, MemoryWormStorage, Gateway],
    sessions: sessionmaker[Session],
    clock: Any,
) -> None:
    _archive, store, gateway = world
    report = erase_customer(
        sessions, store, TwilioCopies(gateway), "+1 (555) 000-1111", actor="cli:dpo",
        retention=POLICY, clock=clock,
    )  # fmt: skip
    assert report.erased == [sid("RE", 1)]
    kept = {k.recording_sid: (k.reason, k.retain_until) for k in report.kept}
    assert kept == {
        sid("RE", 2): ("legal_obligation", clock().replace(hour=10) + timedelta(days=2555)),
        sid("RE", 3): ("legal_hold", clock().replace(hour=10) + timedelta(days=30)),
    }
    assert report.incomplete == []
    # The archive: every version gone (its GOVERNANCE lock lifted for the request) ...
    key1 = f"recordings/2026/03/04/{sid('RE', 1)}.wav"
    assert store.version_ids(key1) == []
    assert store.version_ids(f"recordings/2026/03/04/{sid('RE', 2)}.wav") != []
    # ... Twilio's copy and the task's media entry for it, other writers' entries kept ...
    assert gateway.deleted == [sid("RE", 1)]
    media = gateway.fake.fetch_task(sid("WT", 1)).attributes["conversations"]["media"]
    assert [m["url"][-34:] for m in media] == ["RE" + "f" * 32]
    kept_media = gateway.fake.fetch_task(sid("WT", 2)).attributes["conversations"]["media"]
    assert len(kept_media) == 2
    with sessions() as session:
        row = session.scalars(
            select(ArchivedRecording).where(ArchivedRecording.recording_sid == sid("RE", 1))
        ).one()
        assert row.customer_number is None and row.purged_at is not None
        assert session.get(ErasedRecording, sid("RE", 1)) is not None
        assert session.get(ErasedRecording, sid("RE", 2)) is None
        analyses = session.scalars(select(RecordingAnalysis.recording_sid)).all()
        assert sid("RE", 1) not in analyses and sid("RE", 2) in analyses
        manifest = session.scalars(
            select(SealedObject).where(SealedObject.recording_sid == sid("RE", 1))
        ).one()
        assert manifest.removed_reason == "erasure"
        task = session.get(TaskRecord, sid("WT", 1))
        assert task is not None and task.attributes == {
            "from": "[erased]", "caller": "[erased]", "name": "Ann"
        }  # fmt: skip
        other = session.get(TaskRecord, sid("WT", 4))
        assert other is not None and other.attributes["from"] == "+15559999999"
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "erasure")).one()
    text = str(audit.detail) + audit.actor
    # No written form of the number; not a bare "555", which a random hash in the row may hold.
    forms = (CUSTOMER, "5550001111", "+1 555 000 1111", "555 000 1111", "(555) 000-1111")
    assert [form for form in forms if form in text] == []
    assert audit.detail["erased"] == [sid("RE", 1)]
    assert {k["recording_sid"] for k in audit.detail["kept"]} == {sid("RE", 2), sid("RE", 3)}


def test_twilio_failures_leave_the_request_to_run_again(
    world: tuple[ArchiveService, MemoryWormStorage, Gateway],
    sessions: sessionmaker[Session],
    clock: Any,
) -> None:
    _archive, store, _gateway = world
    report = erase_customer(sessions, store, TwilioCopies(None), CUSTOMER, actor="dpo",
                            retention=POLICY, clock=clock)  # fmt: skip
    assert report.erased == [sid("RE", 1)]
    assert len(report.incomplete) == 1 and "no Twilio credentials" in report.incomplete[0]


def test_a_number_that_is_not_one_is_refused(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(ErasureError):
        number_forms("bob")
    assert "+15550001111" in number_forms("(555) 000-1111")
    assert issubclass(GatewayError, Exception) and Base is not None

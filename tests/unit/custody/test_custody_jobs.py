"""The service's schedule: anchoring and verify run as periodic jobs and feed /metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import REGISTRY
from sim_recordings import SimRecordings
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flexrec.archive.audit_log import record_event
from flexrec.archive.models import AuditAnchor, VerifyRun
from flexrec.archive.service import ArchiveService
from flexrec.archive.worm import MemoryWormStorage
from flexrec.custody.jobs import JOB_ANCHOR, JOB_VERIFY, register_custody_jobs
from flexrec.custody.metrics import refresh_custody_gauges


class Registry:
    def __init__(self) -> None:
        self.periodic: dict[str, tuple[Callable[[], Any], int]] = {}

    def register(self, name: str, fn: Callable[..., Any], **_: Any) -> None:
        raise AssertionError("custody registers periodic jobs only")

    def register_periodic(self, name: str, fn: Callable[[], Any], every_minutes: int) -> None:
        self.periodic[name] = (fn, every_minutes)


def _gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


def test_anchor_and_verify_jobs_record_their_outcome_for_the_metrics(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    sessions: sessionmaker[Session],
) -> None:
    store = MemoryWormStorage()
    archive = make_service(store=store)
    twilio.add("RE" + "1" * 32, "CA" + "2" * 32)
    archive.job.archive_recording("RE" + "1" * 32)
    registry = Registry()
    register_custody_jobs(registry, archive, verify_every_minutes=720, anchor_every_minutes=90)
    assert registry.periodic[JOB_ANCHOR][1] == 60  # at least hourly, whatever is configured
    assert registry.periodic[JOB_VERIFY][1] == 720
    refresh_custody_gauges(sessions)
    assert _gauge("flexrec_verify_problems") == -1
    assert _gauge("flexrec_audit_unanchored_rows") == 1  # the `sealed` row

    assert registry.periodic[JOB_ANCHOR][0]() == 1
    assert registry.periodic[JOB_ANCHOR][0]() == 0  # nothing new: no second anchor
    record_event(sessions, "play", "alice", recording_sid="RE" + "1" * 32)
    assert registry.periodic[JOB_VERIFY][0]() == 0
    refresh_custody_gauges(sessions)
    assert _gauge("flexrec_verify_problems") == 0
    assert _gauge("flexrec_verify_objects_checked") == 1
    assert _gauge("flexrec_audit_unanchored_rows") == 1
    with sessions() as session:
        assert len(session.scalars(select(AuditAnchor)).all()) == 1
        assert session.scalars(select(VerifyRun)).one().problems == 0

    store.tamper(f"recordings/2026/03/04/{'RE' + '1' * 32}.wav", "v000001", b"RIFF")
    assert registry.periodic[JOB_VERIFY][0]() == 1
    refresh_custody_gauges(sessions)
    assert _gauge("flexrec_verify_problems") == 1

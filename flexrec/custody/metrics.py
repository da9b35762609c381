"""Gauges of the archive's proof: the last verify run and the audit chain's anchoring.

Read from the database at scrape time, so whichever process ran the scheduled verify (a queue
worker), every web process shows the same figures.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import Gauge
from sqlalchemy import select
from sqlalchemy.orm import Session

from flexrec.archive.audit_chain import AuditChainHead
from flexrec.archive.models import AuditAnchor, VerifyRun

VERIFY_PROBLEMS = Gauge(
    "flexrec_verify_problems",
    "Problems the last `flexrec verify` run found (altered, missing or unlocked objects,"
    " broken audit links); -1 before the first run",
)
VERIFY_LAST_RUN = Gauge(
    "flexrec_verify_last_run_timestamp_seconds", "When the last verify run started (Unix time)"
)
VERIFY_OBJECTS = Gauge("flexrec_verify_objects_checked", "Objects the last verify run re-read")
AUDIT_UNANCHORED = Gauge(
    "flexrec_audit_unanchored_rows", "Audit rows written since the newest anchored chain head"
)
AUDIT_LAST_ANCHOR = Gauge(
    "flexrec_audit_last_anchor_timestamp_seconds",
    "When the audit chain's head was last anchored (Unix time; 0 = never)",
)


def refresh_custody_gauges(sessions: Callable[[], Session]) -> None:
    """Set the gauges from the newest verify run and anchor."""
    with sessions() as session:
        run = session.scalars(
            select(VerifyRun).order_by(VerifyRun.started_at.desc(), VerifyRun.id.desc()).limit(1)
        ).one_or_none()
        anchor = session.scalars(
            select(AuditAnchor).order_by(AuditAnchor.seq.desc()).limit(1)
        ).one_or_none()
        head = session.get(AuditChainHead, 1)
    if run is None:
        VERIFY_PROBLEMS.set(-1)
    else:
        VERIFY_PROBLEMS.set(run.problems)
        VERIFY_LAST_RUN.set(_unix(run.started_at))
        VERIFY_OBJECTS.set(run.objects)
    head_seq = int(head.seq) if head is not None else 0
    AUDIT_UNANCHORED.set(head_seq - (int(anchor.seq) if anchor is not None else 0))
    AUDIT_LAST_ANCHOR.set(_unix(anchor.anchored_at) if anchor is not None else 0)


def _unix(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()

"""The service's schedule for the proof: anchor the audit chain, verify the archive.

Both are periodic queue jobs, so they run once per deployment (in a queue worker), whatever
the number of web processes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from sqlalchemy.orm import Session

from flexrec.archive.models import VerifyRun
from flexrec.archive.service import ArchiveService
from flexrec.custody.anchors import anchor_head
from flexrec.custody.verify import VerifyReport, VerifyScope, verify_archive
from flexrec.ports import JobRegistry

log = structlog.get_logger(__name__)

JOB_ANCHOR = "custody_anchor"
JOB_VERIFY = "custody_verify"


def record_run(sessions: Callable[[], Session], report: VerifyReport) -> None:
    """Keep a run's outcome (the metrics and the console read the newest)."""
    with sessions() as session:
        session.add(
            VerifyRun(
                started_at=report.started_at,
                seconds=report.seconds,
                objects=report.objects,
                bytes_read=report.bytes_read,
                problems=len(report.problems),
                unanchored_rows=int(report.unanchored.get("rows") or 0),
                summary={
                    "kinds": dict(Counter(p.kind for p in report.problems)),
                    "first": [p.line() for p in report.problems[:20]],
                    "locks": report.locks,
                },
            )
        )
        session.commit()


def anchor_now(archive: ArchiveService) -> int:
    """Anchor the chain's head, locked like the longest retention rule; returns its seq."""
    now = datetime.now(UTC)
    anchor = anchor_head(archive.sessions, archive.store, lock=archive.retention.longest_lock(now))
    return anchor.seq if anchor else 0


def register_custody_jobs(
    queue: JobRegistry,
    archive: ArchiveService,
    *,
    verify_every_minutes: int = 1440,
    verify_sample_pct: float = 100.0,
    anchor_every_minutes: int = 15,
) -> None:
    """Register the periodic anchor and verify jobs."""

    def anchor_job() -> int:
        return anchor_now(archive)

    def verify_job() -> int:
        report = verify_archive(
            archive.sessions,
            archive.store,
            key=archive.key,
            scope=VerifyScope(sample_pct=verify_sample_pct),
        )
        record_run(archive.sessions, report)
        for problem in report.problems:
            log.error("verify.problem", line=problem.line())
        log.info("verify.done", **{k: v for k, v in report.public().items() if k != "problems"})
        return len(report.problems)

    queue.register_periodic(JOB_ANCHOR, anchor_job, every_minutes=min(60, anchor_every_minutes))
    if verify_every_minutes > 0:
        queue.register_periodic(JOB_VERIFY, verify_job, every_minutes=verify_every_minutes)

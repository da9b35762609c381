"""Gauges the service refreshes itself (queue depth, archive backlog, oldest unarchived
recording, the coverage counters' rows), so that `/metrics` answers from memory.

A scrape used to run these queries itself: anyone who could reach `/metrics` made the
database work on every request. Now each process refreshes them on its background thread every
`REFRESH_S` seconds (two cheap queries) and a scrape only reads memory; `flexrec_gauges_age_
seconds` says how fresh they are.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Gauge
from sqlalchemy import func, select

from flexrec.coverage.metrics import COVERAGE_COUNTERS
from flexrec.custody.metrics import refresh_custody_gauges
from flexrec.logs import get_logger

log = get_logger(__name__)

REFRESH_S = 15.0
PENDING_STATES = ("downloading", "stored")

QUEUE_DEPTH = Gauge("flexrec_queue_depth", "Jobs waiting in the queue")
ARCHIVE_BACKLOG = Gauge(
    "flexrec_archive_backlog", "Completed recordings not yet safely in the archive"
)
OLDEST_UNARCHIVED = Gauge(
    "flexrec_archive_oldest_unarchived_seconds",
    "Age of the oldest completed recording not yet in the archive (0 when none)",
)
_REFRESHED_AT = Gauge(
    "flexrec_gauges_refreshed_timestamp_seconds",
    "When this process last refreshed its queue and archive gauges (Unix time)",
)


def refresh_archive_gauges(sessions: Any, now: datetime | None = None) -> None:
    """Set the archive backlog and the oldest unarchived recording's age."""
    from flexrec.archive.models import ArchivedRecording

    now = now or datetime.now(UTC)
    with sessions() as session:
        count, oldest = session.execute(
            select(func.count(), func.min(ArchivedRecording.created_at)).where(
                ArchivedRecording.state.in_(PENDING_STATES)
            )
        ).one()
    ARCHIVE_BACKLOG.set(int(count or 0))
    if oldest is None:
        OLDEST_UNARCHIVED.set(0)
        return
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    OLDEST_UNARCHIVED.set(max(0.0, (now - oldest).total_seconds()))


def refresh_gauges(services: Any) -> None:
    """One refresh of every gauge the service computes (run on a background thread)."""
    try:
        if services.queue is not None and hasattr(services.queue, "huey"):
            QUEUE_DEPTH.set(int(services.queue.huey.pending_count()))
        if services.archive is not None:
            refresh_archive_gauges(services.archive.sessions)
            refresh_custody_gauges(services.archive.sessions)
        if services.sessions is not None:
            COVERAGE_COUNTERS.refresh(services.sessions)
    except Exception as exc:  # the next refresh tries again; /readyz says what is wrong
        log.warning("gauge_refresh_failed", error=type(exc).__name__)
        return
    _REFRESHED_AT.set(time.time())

"""Import the recordings already on the Twilio account into the archive (idempotent)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import structlog

from flexrec.archive.job import ArchiveJob
from flexrec.archive.media import media_url_from_uri
from flexrec.archive.models import DONE_STATES
from flexrec.twilio.gateway import as_archive_gateway

log = structlog.get_logger(__name__)

Outcome = Literal["archived", "already", "skipped", "failed"]


@dataclass(frozen=True)
class BackfillProgress:
    """One step of a backfill, handed to the progress callback."""

    recording_sid: str
    outcome: Outcome
    done: int
    error: str | None = None


@dataclass
class BackfillReport:
    """What a backfill did, by outcome."""

    archived: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def seen(self) -> int:
        """Recordings listed by Twilio."""
        return len(self.archived) + len(self.already) + len(self.skipped) + len(self.failed)


def backfill(
    client: Any,
    job: ArchiveJob,
    since: datetime | None = None,
    progress: Callable[[BackfillProgress], None] | None = None,
    limit: int | None = None,
) -> BackfillReport:
    """List the account's recordings through the gateway and archive each completed one.

    One recording's failure never stops the run; it is reported and can be retried by running
    the backfill again (already archived recordings are skipped without any download).
    """
    report = BackfillReport()
    gateway = as_archive_gateway(client)
    for recording in gateway.iter_recordings(since, limit):
        sid = recording.sid
        outcome: Outcome
        error: str | None = None
        status = recording.status
        existing = job.deps.get(sid)
        if existing is not None and existing.state in DONE_STATES:
            outcome = "already"
            report.already.append(sid)
        elif status != "completed":
            outcome = "skipped"  # in progress now: the live path archives it when it completes
            report.skipped.append(sid)
        else:
            try:
                started_ms = recording.start_time_ms
                job.note_completed(
                    sid,
                    recording.call_sid,
                    media_url_from_uri(recording.uri) if recording.uri else None,
                    recording.channels,
                    duration_s=recording.duration_s,
                    started_at=(
                        datetime.fromtimestamp(started_ms / 1000, UTC)
                        if started_ms is not None
                        else None
                    ),
                )
                job.archive_recording(sid, retry_failed=True)
                outcome = "archived"
                report.archived.append(sid)
            except Exception as exc:  # one bad recording must not end the import
                outcome = "failed"
                error = str(exc) or type(exc).__name__
                report.failed[sid] = error
                log.warning("backfill.failed", recording_sid=sid, error=error)
        if progress is not None:
            progress(BackfillProgress(sid, outcome, report.seen, error))
    log.info(
        "backfill.done",
        archived=len(report.archived),
        already=len(report.already),
        skipped=len(report.skipped),
        failed=len(report.failed),
    )
    return report

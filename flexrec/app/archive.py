"""Joins the archive to the recording service: jobs, the completion callback, context.

Recording control never imports the archive; this module is the one place that knows both. A
completed recording is noted and queued for archiving from inside its status callback; once
archived it is queued for analysis; a reconciler picks up jobs a crash lost; retention runs
hourly.
"""

from __future__ import annotations

import functools
import secrets
from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.orm import Session

from flexrec.archive.context import db_context_provider
from flexrec.archive.jobs import JOB_ARCHIVE, register_archive_jobs
from flexrec.archive.service import ArchiveService
from flexrec.config import Settings
from flexrec.console.card_marks import call_card_data
from flexrec.custody.jobs import register_custody_jobs
from flexrec.db.files import private_folder
from flexrec.pci.archive_stage import make_redactor
from flexrec.pci.store import transcript_document
from flexrec.pci.webhook import CardDataWebhook
from flexrec.recording.views import RecordingView
from flexrec.server.services import Services


def ensure_console_secret(settings: Settings) -> str:
    """The secret signing console sessions and media links, generated once when not configured.

    Taken from `FLEXREC_CONSOLE_SECRET`; the embedded default keeps a generated one in the data
    folder (readable by the owner only) so links and sessions survive restarts with no set-up.
    """
    configured = settings.server.console_secret.get_secret_value()
    if not configured:
        folder = Path(settings.storage.data_dir)
        private_folder(folder)
        path = folder / "console-secret"
        if not path.exists():
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(48))
        configured = path.read_text().strip()
        settings.server.console_secret = SecretStr(configured)
    return configured


def attach_archive(
    settings: Settings, services: Services, *, reconcile_every_minutes: int = 5
) -> ArchiveService:
    """Build the archive, register its jobs and hook it to completed recordings."""
    sessions, queue = services.sessions, services.queue
    if sessions is None or queue is None:
        raise RuntimeError("the archive needs the service's database and job queue")
    archive = ArchiveService.from_settings(
        settings, sessions, services.client, context_provider=db_context_provider(sessions)
    )
    if settings.card_data.card_data:
        # Spoken card data is silenced before the archive stores anything (flexrec.pci).
        webhook = CardDataWebhook.from_settings(settings, sessions, call_card_data)
        if webhook is not None:
            webhook.register(queue)
        archive.deps.redactor = make_redactor(settings, sessions, services.client, webhook)
        archive.deps.transcripts = functools.partial(transcript_document, sessions)
    register_archive_jobs(
        queue,
        archive,
        reconcile_every_minutes=reconcile_every_minutes,
        retry_base_s=settings.storage.archive_retry_base_s,
    )
    storage = settings.storage
    register_custody_jobs(
        queue,
        archive,
        verify_every_minutes=storage.verify_every_minutes,
        verify_sample_pct=storage.verify_sample_pct,
        anchor_every_minutes=storage.audit_anchor_minutes,
    )

    def note(session: Session, view: RecordingView) -> None:
        # Inside the recording status webhook's own write transaction: one upsert.
        archive.job.note_completed_in(
            session,
            view.sid,
            view.call_sid,
            view.media_url,
            view.channels,
            duration_s=view.duration_s,
        )

    def completed(view: RecordingView) -> None:
        # After that transaction's commit: the job. Lost with a crash before it, it is queued
        # again from the row (`requeue_unfinished` at every worker start, and the reconciler).
        queue.enqueue(JOB_ARCHIVE, view.sid)

    intake = services.recording.intake
    intake.note_recording_completed(note)
    intake.on_recording_completed(completed)
    services.archive = archive
    services.closers.append(archive.close)
    return archive


def requeue_unfinished(services: Services) -> int:
    """Queue again every archive job a crash left unfinished (the queue may have lost it)."""
    archive, queue = services.archive, services.queue
    if archive is None or queue is None:
        return 0
    # At start-up nothing of ours is running yet, so every unfinished row is stale; the job is
    # idempotent should another worker hold one.
    pending = archive.job.unfinished(stale_after=timedelta(0))
    for sid in pending:
        queue.enqueue(JOB_ARCHIVE, sid)
    return len(pending)

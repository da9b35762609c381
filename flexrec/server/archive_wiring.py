"""Joins the archive to the recording service: jobs, callbacks, context, and the web routes.

Recording control never imports the archive; this module is the one place that knows both. A
completed recording is noted and queued for archiving from inside its status callback; once
archived it is queued for analysis; retention runs hourly.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from flexrec.archive.models import ArchivedRecording
from flexrec.archive.router import make_archive_router
from flexrec.archive.service import ArchiveService, RecordingContext
from flexrec.archive.signed_urls import MediaLinkSigner
from flexrec.config import Settings
from flexrec.console.router import ConsoleDeps, create_console_router
from flexrec.db.models import RecordingTarget, ReservationRecord, TaskRecord
from flexrec.recording.views import RecordingView
from flexrec.server.wiring import Services

ARCHIVE_JOB = "archive_recording"
ANALYSE_JOB = "analyse_recording"
RETENTION_JOB = "apply_retention"


def console_secret(settings: Settings) -> str:
    """The secret signing console sessions and media links.

    Taken from `FLEXREC_CONSOLE_SECRET`; the embedded default keeps a generated one in the data
    folder (readable by the owner only) so links survive restarts without any set-up.
    """
    configured = settings.server.console_secret.get_secret_value()
    if configured:
        return configured
    folder = Path(settings.storage.data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "console-secret"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def recording_context(services: Services) -> Any:
    """A context provider telling the archive what the recording service knows of a call."""

    def provide(recording_sid: str, call_sid: str | None) -> RecordingContext | None:
        with services.sessions() as session:
            target = session.scalars(
                select(RecordingTarget).where(RecordingTarget.recording_sid == recording_sid)
            ).first()
            if target is None and call_sid:
                target = session.scalars(
                    select(RecordingTarget).where(RecordingTarget.call_sid == call_sid)
                ).first()
            if target is None:
                return None
            tasks = list(
                session.scalars(
                    select(TaskRecord).where(TaskRecord.customer_call_sid == target.call_sid)
                )
            )
            task_sids = tuple(sorted({t.sid for t in tasks} | {target.task_sid}))
            first = next(
                (t for t in tasks if t.sid == target.task_sid), tasks[0] if tasks else None
            )
            reservation = session.scalars(
                select(ReservationRecord)
                .where(ReservationRecord.task_sid.in_(task_sids))
                .where(ReservationRecord.accepted_ms.is_not(None))
                .order_by(ReservationRecord.accepted_ms)
            ).first()
            customer_number = None
            if first is not None and first.attributes:
                attributes = first.attributes
                key = "from" if first.direction == "inbound" else "outbound_to"
                value = attributes.get(key)
                customer_number = str(value) if value else None
            labels = ("customer", "others") if target.leg == "customer" else ("others", "customer")
            return RecordingContext(
                task_sids=task_sids,
                queue_name=first.queue_name if first else None,
                direction=first.direction if first else None,
                worker_sid=reservation.worker_sid if reservation else None,
                agent_identity=reservation.worker_name if reservation else None,
                customer_number=customer_number,
                channel_labels=labels,
            )

    return provide


def attach_archive(settings: Settings, services: Services) -> ArchiveService:
    """Build the archive, register its jobs and hook it to completed recordings."""
    archive = ArchiveService.from_settings(
        settings, services.sessions, services.client, context_provider=recording_context(services)
    )
    queue = services.queue
    queue.register(ARCHIVE_JOB, archive.archive_recording, retries=8, retry_delay_s=5)
    queue.register(ANALYSE_JOB, archive.analyse, retries=3, retry_delay_s=5)
    queue.register_periodic(RETENTION_JOB, archive.apply_retention, every_minutes=60)

    def completed(view: RecordingView) -> None:
        archive.note_completed(
            view.sid, view.call_sid, view.media_url, view.channels, duration_s=view.duration_s
        )
        queue.enqueue(ARCHIVE_JOB, view.sid)

    def archived(recording_sid: str) -> None:
        queue.enqueue(ANALYSE_JOB, recording_sid)

    services.recording.on_recording_completed(completed)  # type: ignore[attr-defined]
    archive.on_archived.append(archived)
    services.archive = archive
    return archive


def requeue_unfinished(services: Services) -> int:
    """Queue again every archive row a crash left unfinished (the queue may have lost it)."""
    with services.sessions() as session:
        pending = list(
            session.scalars(
                select(ArchivedRecording.recording_sid).where(
                    ArchivedRecording.state == "downloading"
                )
            )
        )
    for sid in pending:
        services.queue.enqueue(ARCHIVE_JOB, sid)
    return len(pending)


def mount_archive_and_console(app: FastAPI, settings: Settings, services: Services) -> None:
    """Add the archive's media/url_provider routes and the console to the service app."""
    secret = console_secret(settings)
    signer = MediaLinkSigner(secret)
    app.include_router(
        make_archive_router(services.archive, services.tokens, signer, settings.server.public_url)
    )
    app.include_router(
        create_console_router(
            ConsoleDeps(
                sessions=services.sessions,
                secret=secret,
                media_links=signer,
                token_validator=services.tokens,
                peaks_source=services.archive,
                pause_behavior=services.recording.policy.pause_behavior,  # type: ignore[attr-defined]
            )
        )
    )
